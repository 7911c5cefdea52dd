# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet as timm models: ``import mmscalenet.timm`` registers them.

timm has no plugin discovery: importing this module registers
``scalenet50``, ``scalenet50_light``, ``scalenet101`` and ``scalenet152``
with ``timm.models.register_model``, each with one pretrained config (tag
``authors_in1k``, built by ``generate_default_cfgs``) whose weights are a
local safetensors file written by ``tools/convert_official.py`` from the
authors' release; nothing is downloaded.

The model is the package's :class:`~mmscalenet.ScaleNet` with timm's
interface (:class:`TimmScaleNet`): the same modules and state dict keys
(``conv1``, ``bn1``, ``layer1`` ... ``layer4``) plus timm's classifier
(``global_pool``, ``fc``). Its feature levels are timm's for a ResNet: the
stride-2 stem (``relu``, before the max pool), then the four stages.

``output_stride`` 16 or 8 (DeepLab, and segmentation_models_pytorch's
encoders) keeps the resolution of the last one or two stages and dilates
their SA blocks: the package's dilated ScaleNet, as MMSegmentation builds it
(``configs/_base_/models/scalenet50-d8.py``), so the ImageNet weights load
unchanged.

Weights: ``pretrained=True`` reads the config's ``file``,
``<weights dir>/<model>_authors_in1k.safetensors``, where the weights dir is
``$MMSCALENET_WEIGHTS`` (read when the model is created) or
``~/.cache/mmscalenet/weights``; another file is given as timm takes one,
``pretrained_cfg_overlay=dict(file=...)``.

Example:
    >>> import timm
    >>> import torch
    >>> import mmscalenet.timm  # noqa: F401  (registers the models)
    >>> model = timm.create_model('scalenet50', num_classes=10)
    >>> model(torch.rand(1, 3, 64, 64)).shape
    torch.Size([1, 10])
    >>> features = timm.create_model('scalenet50', features_only=True)
    >>> features.feature_info.channels(), features.feature_info.reduction()
    ([64, 256, 512, 1024, 2048], [2, 4, 8, 16, 32])
"""
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from mmengine.model import initialize
from timm.layers import create_classifier, register_notrace_module
from timm.models import (build_model_with_cfg, generate_default_cfgs,
                         register_model, resolve_pretrained_cfg)
from safetensors import SafetensorError
from timm.models._features import feature_take_indices

from .models import PUBLISHED_VARIANTS, ScaleNet
from .models.scalenet import SABottleneck

#: The tag of the authors' ImageNet-1k weights.
PRETRAINED_TAG = 'authors_in1k'

#: The stages' strides and dilations at the output strides below 32 that
#: timm's ResNet takes: the stages past it keep the resolution and dilate
#: instead (at 32, the backbone's own strides).
DILATED_STAGES = {
    16: ((1, 2, 2, 1), (1, 1, 1, 2)),
    8: ((1, 2, 1, 1), (1, 1, 2, 4)),
}
#: Feature levels: the stride-2 stem, then the four stages.
FEATURE_LEVELS = 5

# Shape-dependent Python (a block's pooling window, the nearest/bilinear
# choice per map size) cannot be traced symbolically: torch.fx, and timm's
# fx feature extraction, keep these modules as leaves.
register_notrace_module(SABottleneck)


def weights_dir() -> str:
    """Where the ``authors_in1k`` configs look for their files:
    ``$MMSCALENET_WEIGHTS``, else ``~/.cache/mmscalenet/weights``."""
    return os.environ.get(
        'MMSCALENET_WEIGHTS',
        osp.join(
            os.environ.get('XDG_CACHE_HOME', osp.expanduser('~/.cache')),
            'mmscalenet', 'weights'))


def weights_file(model_name: str) -> str:
    """The default weights file of ``model_name``'s ``authors_in1k``
    config."""
    return osp.join(weights_dir(),
                    f'{model_name}_{PRETRAINED_TAG}.safetensors')


class TimmScaleNet(ScaleNet):
    """:class:`~mmscalenet.ScaleNet` with timm's model interface.

    Args:
        depth (int): 50, 101 or 152.
        structure (str | list | ChannelSpec, optional): The channel spec,
            as :class:`~mmscalenet.ScaleNet` takes it. None means
            ``f'scalenet{depth}'``. Defaults to None.
        num_classes (int): Classes of the classifier; 0 leaves it out.
            Defaults to 1000.
        in_chans (int): Input channels. Defaults to 3.
        global_pool (str): timm's pooling type; ``''`` leaves the pooling
            out. Defaults to ``'avg'``.
        output_stride (int): 32, 16 or 8: the stride of the last feature
            map; below 32 the last stages are dilated. Defaults to 32.
        drop_rate (float): Dropout before the classifier. Defaults to 0.
        drop_path_rate (float): Stochastic depth, rising linearly over the
            blocks (mmpretrain's rule). Defaults to 0.
        **kwargs: Other arguments of :class:`~mmscalenet.ScaleNet` (for
            example ``channel_multiple``).

    Example:
        >>> import torch
        >>> model = TimmScaleNet(50, num_classes=10)
        >>> model.forward_features(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 2048, 2, 2])
    """

    def __init__(self,
                 depth: int,
                 structure=None,
                 num_classes: int = 1000,
                 in_chans: int = 3,
                 global_pool: str = 'avg',
                 output_stride: int = 32,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 **kwargs):
        if output_stride != 32:
            if output_stride not in DILATED_STAGES:
                raise ValueError(f'output_stride must be one of '
                                 f'{sorted([*DILATED_STAGES, 32])}, got '
                                 f'{output_stride!r}')
            if {'strides', 'dilations'} & set(kwargs):
                raise ValueError(f'output_stride={output_stride} sets the '
                                 f'stages\' strides and dilations; give '
                                 f'those or output_stride, not both')
            kwargs['strides'], kwargs['dilations'] = \
                DILATED_STAGES[output_stride]
        super().__init__(
            depth,
            structure,
            in_channels=in_chans,
            drop_path_rate=drop_path_rate,
            **kwargs)
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        self.num_features = self.head_hidden_size = self.feat_dim
        self.feature_info = [
            dict(
                num_chs=self.conv1.out_channels,
                reduction=self.conv1.stride[0],
                module='relu')
        ]
        reduction = self.stem_stride
        for i, name in enumerate(self.res_layers):
            reduction *= self.strides[i]
            self.feature_info.append(
                dict(
                    num_chs=self.stage_width(i) * self.block.expansion,
                    reduction=reduction,
                    module=name))
        self.global_pool, self.fc = create_classifier(
            self.num_features, num_classes, pool_type=global_pool)
        # The initialization without BaseModule.init_weights's
        # per-parameter log (an OpenMMLab run's record, noise in timm).
        initialize(self, self.init_cfg)
        if self.zero_init_residual:  # timm's ResNet: zero_init_last
            self.zero_init_last_norms()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, str]:
        """Parameter groups for timm's layer-wise lr decay: the stem, then
        each stage (``coarse``) or each block."""
        return dict(
            stem=r'^conv1|bn1|maxpool',
            blocks=r'^layer(\d+)' if coarse else r'^layer(\d+)\.(\d+)')

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block's activations in the backward pass (the
        blocks' ``with_cp``)."""
        self.grad_checkpointing = enable
        for m in self.modules():
            if isinstance(m, SABottleneck):
                m.with_cp = enable

    @torch.jit.ignore
    def get_classifier(self, name_only: bool = False):
        return 'fc' if name_only else self.fc

    def reset_classifier(self,
                         num_classes: int,
                         global_pool: Optional[str] = None) -> None:
        """A new classifier of ``num_classes`` (0: none), keeping the
        pooling unless ``global_pool`` is given (``''``: none)."""
        self.num_classes = num_classes
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        device = self.conv1.weight.device
        self.global_pool, self.fc = create_classifier(
            self.num_features, num_classes, pool_type=global_pool)
        self.global_pool.to(device).train(self.training)
        self.fc.to(device).train(self.training)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: Optional[Union[int, List[int]]] = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = 'NCHW',
        intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """The final features and the feature levels ``indices`` (timm's
        rule: an int takes the last ``indices`` levels, None all five).

        Args:
            x (Tensor): Images.
            indices (int | list[int], optional): Levels to return.
            norm (bool): Ignored: ScaleNet has no final norm.
            stop_early (bool): Stop after the last level asked for.
            output_fmt (str): ``'NCHW'`` only.
            intermediates_only (bool): Return the levels alone.
        """
        if output_fmt != 'NCHW':
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take, last = feature_take_indices(len(self.feature_info), indices)
        intermediates = []
        x = self.forward_stem_convs(x)
        if 0 in take:
            intermediates.append(x)
        x = self.maxpool(x)
        names = self.res_layers[:last] if stop_early else self.res_layers
        for i, name in enumerate(names, 1):
            x = getattr(self, name)(x)
            if i in take:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(self,
                                  indices: Union[int, List[int]] = 1,
                                  prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Drop the stages after the last feature level of ``indices``
        (timm's rule) and, with ``prune_head`` or where stages went, the
        classifier; return the levels kept.

        Args:
            indices (int | list[int]): The feature levels to keep.
            prune_norm (bool): Ignored: ScaleNet has no final norm.
            prune_head (bool): Drop the pooling and classifier.
        """
        take, last = feature_take_indices(len(self.feature_info), indices)
        for name in self.res_layers[last:]:
            # Empty, as timm's ResNet leaves them: forward passes through.
            setattr(self, name, nn.Sequential())
        if last == 0:
            self.maxpool = nn.Identity()
        pruned_end = last < len(self.res_layers)
        if pruned_end:
            self.num_features = self.head_hidden_size = \
                self.feature_info[last]['num_chs']
        if prune_head or pruned_end:
            self.reset_classifier(0, '')
        return take

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map (unpooled)."""
        x = self.forward_stem(x)
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return x

    def forward_head(self,
                     x: torch.Tensor,
                     pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor],
                         model: TimmScaleNet) -> Dict[str, torch.Tensor]:
    """timm's ``pretrained_filter_fn``: a checkpoint in mmpretrain's layout
    (``backbone.*``, ``head.fc.*``: what ``tools/convert_official.py``
    writes, as ``.pth`` or ``.safetensors``) in the model's own names; a
    state dict in those already passes unchanged."""
    state_dict = state_dict.get('state_dict', state_dict)
    return {
        k.split('.', 1)[1] if k.startswith(('backbone.', 'head.')) else k: v
        for k, v in state_dict.items()
    }


def _cfg(model_name: str) -> Dict[str, Any]:
    return dict(
        file=weights_file(model_name),
        num_classes=1000,
        input_size=(3, 224, 224),
        pool_size=(7, 7),
        crop_pct=0.875,
        interpolation='bilinear',
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
        first_conv='conv1',
        classifier='fc',
        paper_ids='arXiv:1904.09460',
        paper_name='Data-Driven Neuron Allocation for Scale Aggregation '
        'Networks',
        origin_url='https://github.com/Eli-YiLi/ScaleNet')


default_cfgs = generate_default_cfgs({
    f'{name}.{PRETRAINED_TAG}': _cfg(name)
    for name in PUBLISHED_VARIANTS
})


def _create_scalenet(variant: str, pretrained: bool = False,
                     **kwargs) -> TimmScaleNet:
    levels = FEATURE_LEVELS
    out_indices = kwargs.get('out_indices')
    if kwargs.get('features_only') and isinstance(out_indices, (list, tuple)):
        bad = [i for i in out_indices if not -levels <= i < levels]
        if bad:
            raise ValueError(f'{variant}: out_indices must be feature levels '
                             f'0 to {levels - 1} (or -{levels} to -1), got '
                             f'{tuple(out_indices)}')
    if pretrained:
        overlay = dict(kwargs.get('pretrained_cfg_overlay') or {})
        if kwargs.get('pretrained_cfg') is None or isinstance(
                kwargs['pretrained_cfg'], str):
            # The weights dir as it is now, not when the configs were built.
            overlay.setdefault('file', weights_file(variant))
        kwargs['pretrained_cfg_overlay'] = overlay
        cfg = resolve_pretrained_cfg(
            variant,
            pretrained_cfg=kwargs.get('pretrained_cfg'),
            pretrained_cfg_overlay=overlay)
        if cfg.file and not osp.isfile(cfg.file):
            raise FileNotFoundError(
                f'{variant}: no weights file {cfg.file}; write it from the '
                f"authors' checkpoint with tools/convert_official.py SRC "
                f'{cfg.file} --arch {variant}, or name yours with '
                f'pretrained_cfg_overlay=dict(file=...)')
    kwargs.setdefault('structure', variant)
    try:
        return build_model_with_cfg(
            TimmScaleNet,
            variant,
            pretrained,
            pretrained_filter_fn=checkpoint_filter_fn,
            depth=PUBLISHED_VARIANTS[variant].depth,
            **kwargs)
    except SafetensorError as error:
        raise ValueError(f'{variant}: {cfg.file} is not a readable '
                         f'safetensors file ({error})') from None


@register_model
def scalenet50(pretrained: bool = False, **kwargs) -> TimmScaleNet:
    """ScaleNet-50 (the authors' allocation, 3.8 GMACs)."""
    return _create_scalenet('scalenet50', pretrained, **kwargs)


@register_model
def scalenet50_light(pretrained: bool = False, **kwargs) -> TimmScaleNet:
    """ScaleNet-50-light (2.9 GMACs)."""
    return _create_scalenet('scalenet50_light', pretrained, **kwargs)


@register_model
def scalenet101(pretrained: bool = False, **kwargs) -> TimmScaleNet:
    """ScaleNet-101 (7.5 GMACs)."""
    return _create_scalenet('scalenet101', pretrained, **kwargs)


@register_model
def scalenet152(pretrained: bool = False, **kwargs) -> TimmScaleNet:
    """ScaleNet-152 (11.2 GMACs)."""
    return _create_scalenet('scalenet152', pretrained, **kwargs)
