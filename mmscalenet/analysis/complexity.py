# Copyright (c) mmscalenet contributors. All rights reserved.
"""Multiply-accumulates and parameters of a model, by operator.

mmengine's ``FlopAnalyzer`` traces the model (1 "flop" = one
multiply-accumulate) and counts convs, linear layers, norms and upsampling,
but leaves max pooling out. Pooling is where an SA block saves its work, so
it is counted here too: a pooling op costs one operation per window element
per output element. mmcv's deformable convs (``dcn=``) count as convs.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

#: The operators counted, grouped the way the tools print them. ``macs``
#: (convs and fully connected layers) is what papers call FLOPs and what the
#: documentation's tables give.
COUNTED_OPS = {
    'conv': ('conv', 'deform_conv'),
    'linear': ('linear', 'addmm', 'matmul', 'mm', 'bmm', 'einsum'),
    'norm': ('batch_norm', 'group_norm', 'layer_norm', 'instance_norm'),
    'pool': ('max_pool2d', 'avg_pool2d', 'adaptive_avg_pool2d'),
    'upsample': ('upsample_nearest2d', 'upsample_bilinear2d',
                 'grid_sampler'),
}


def _numel(value) -> int:
    n = 1
    for s in get_shape(value):
        n *= s
    return n


def _pool_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """Window elements x output elements of a ``max/avg_pool2d``.

    Where the window is computed from the input shape (the SA block's
    pooling, whose windows tile the map), the trace holds no constant: count
    one operation per input element.
    """
    kernel = inputs[1].toIValue()
    if isinstance(kernel, int):
        kernel = [kernel]
    if not kernel or any(k is None for k in kernel):
        return _numel(inputs[0])
    area = kernel[0] * (kernel[1] if len(kernel) > 1 else kernel[0])
    return area * _numel(outputs[0])


#: mmcv's deformable convs as the trace names them (autograd functions), and
#: the position of the weight among their inputs.
DEFORM_CONV_OPS = {
    'prim::PythonOp.DeformConv2dFunction': 2,
    'prim::PythonOp.ModulatedDeformConv2dFunction': 3,
}


def _deform_conv_flop(weight_index: int):
    """Handle of a deformable conv: a conv's MACs (output elements x input
    channels per group x kernel area), counted as ``deform_conv``; its
    offset conv is an ``nn.Conv2d``, counted as ``conv``."""

    def handle(inputs: List[Any], outputs: List[Any]) -> Counter:
        _, in_per_group, kh, kw = get_shape(inputs[weight_index])
        return Counter(
            {'deform_conv': _numel(outputs[0]) * in_per_group * kh * kw})

    return handle


@dataclass
class ModelComplexity:
    """Operation counts by group (see :data:`COUNTED_OPS`) and parameters."""
    by_group: Dict[str, int] = field(default_factory=dict)
    by_operator: Dict[str, int] = field(default_factory=dict)
    params: int = 0
    uncounted_ops: Tuple[str, ...] = ()

    @property
    def macs(self) -> int:
        """Conv and fully connected MACs: the papers' "FLOPs"."""
        return self.by_group.get('conv', 0) + self.by_group.get('linear', 0)

    @property
    def total(self) -> int:
        return sum(self.by_group.values())


def measure_complexity(model: nn.Module, inputs: tuple) -> ModelComplexity:
    """Trace ``model(*inputs)`` and count its operations.

    Args:
        model (nn.Module): The model; put in eval mode by the caller.
        inputs (tuple): Positional inputs of ``model``.

    Returns:
        ModelComplexity: Counts per operator group and the parameter count.
    """
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::max_pool2d', _pool_flop,
                           'aten::avg_pool2d', _pool_flop)
    for op, weight_index in DEFORM_CONV_OPS.items():
        analyzer.set_op_handle(op, _deform_conv_flop(weight_index))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_operator = dict(analyzer.by_operator())
    by_group = Counter()
    for op, count in by_operator.items():
        group = next((g for g, ops in COUNTED_OPS.items() if op in ops),
                     'other')
        by_group[group] += count
    return ModelComplexity(
        by_group=dict(by_group),
        by_operator=by_operator,
        params=sum(p.numel() for p in model.parameters()),
        uncounted_ops=tuple(sorted(analyzer.unsupported_ops())))


def det_data_samples(h: int, w: int) -> list:
    """One mmdet data sample describing an unscaled ``h x w`` image."""
    from mmdet.structures import DetDataSample
    return [
        DetDataSample(
            metainfo=dict(
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0)))
    ]


class TensorForward(nn.Module):
    """``model(x)`` of an mmpretrain classifier or an mmdet detector,
    returning tensors only (``mode='tensor'``), for tracing.

    Args:
        model (nn.Module): The classifier or detector.
        scope (str): ``'mmpretrain'`` or ``'mmdet'``.
        shape (Sequence[int]): Input ``(H, W)``; a detector needs it for its
            data sample.
    """

    def __init__(self, model: nn.Module, scope: str, shape: Sequence[int]):
        super().__init__()
        self.model = model
        self.data_samples = (
            det_data_samples(*shape) if scope == 'mmdet' else None)

    def forward(self, x):
        return self.model(x, self.data_samples, mode='tensor')


def config_model_complexity(model: nn.Module,
                            scope: str,
                            shape: Sequence[int],
                            in_channels: Optional[int] = None
                            ) -> ModelComplexity:
    """:func:`measure_complexity` of a model built from an MM config, on one
    ``in_channels x H x W`` input (by default, the input channels of the
    model's first conv).

    Example:
        >>> from mmpretrain.models import ImageClassifier
        >>> model = ImageClassifier(backbone=dict(type='CifarResNet',
        ...     depth=38), neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='LinearClsHead', num_classes=10,
        ...               in_channels=256))
        >>> config_model_complexity(model.eval(), 'mmpretrain', (16, 16)).macs
        15120896
    """
    if in_channels is None:
        in_channels = next(m for m in model.modules()
                           if isinstance(m, nn.Conv2d)).in_channels
    with torch.no_grad():
        return measure_complexity(
            TensorForward(model, scope, shape),
            (torch.rand(1, in_channels, *shape), ))
