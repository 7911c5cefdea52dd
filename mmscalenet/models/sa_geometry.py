# Copyright (c) mmscalenet contributors. All rights reserved.
"""The arithmetic of the scale aggregation (SA) block, in one place.

Everything that depends on how a scale turns an ``H x W`` map into a smaller
one and back lives here: the pooled size, the kernel-size rule, the
nearest/bilinear rule, the multiply-accumulates (MACs) of one output neuron
and the budget of the ResNet 3x3 conv that an SA block replaces. The model
(:class:`~mmscalenet.models.SABlock`), the channel specs, the FLOPs tools and
the neuron allocation all call these functions, so they cannot disagree.

Conventions follow the authors' released model (see docs/model.md):

* Scale ``i`` downsamples by ``factor`` with a ``factor x factor`` window and
  stride, in floor mode. A map smaller than the factor is pooled whole
  (window = map size), so any input size is accepted.
* The kernel of scale ``i`` is 3x3 with padding 1 when
  ``side / 2**i > 1`` at the block's reference side (the side at the
  reference input, 224x224 for ImageNet), else 1x1 with no padding. Note the
  ``2**i``, not the factor: this is the authors' rule, and it decides the
  parameter count, so it is fixed at build time.
* Upsampling is nearest where the input size is an integer multiple of the
  pooled size in both dimensions, otherwise bilinear (``align_corners=False``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

#: Pooling factors of the ImageNet ScaleNets (7, not 8: the last stage is 7x7).
IMAGENET_POOL_FACTORS = (1, 2, 4, 7)
#: Pooling factors of the CIFAR ScaleNets (L = 3, paper section 4.2).
CIFAR_POOL_FACTORS = (1, 2, 4)
#: Downsampling operators of the paper's Table 8.
DOWNSAMPLE_TYPES = ('max', 'avg', 'conv', 'dilated_conv')
#: Upsampling rules: ``'auto'`` fixes nearest/bilinear per scale from the
#: reference side, ``'official'`` decides per input shape at run time (as the
#: authors' file does), ``'nearest'`` and ``'bilinear'`` force one mode.
UPSAMPLE_MODES = ('auto', 'official', 'nearest', 'bilinear')


def check_downsample(downsample: str) -> str:
    """Return ``downsample`` or raise a ``ValueError`` naming it."""
    if downsample not in DOWNSAMPLE_TYPES:
        raise ValueError(f'downsample must be one of {DOWNSAMPLE_TYPES}, '
                         f'got {downsample!r}')
    return downsample


def downsamples_by_conv(downsample: str) -> bool:
    """Whether a scale downsamples with its own strided conv (Table 8's
    ``'conv'`` and ``'dilated_conv'``) rather than pooling before it."""
    return check_downsample(downsample) in ('conv', 'dilated_conv')


def scale_conv_geometry(side: Optional[int],
                        scale_index: int,
                        factor: int,
                        downsample: str = 'max',
                        dilation: int = 1) -> Dict[str, int]:
    """Kernel size, stride, dilation and padding of the conv of one scale.

    The kernel follows :func:`kernel_size` (3 where ``side`` is None). A
    pooled scale convolves the pooled map with stride 1; a conv-downsampled
    scale (factor > 1) has stride ``factor`` and, for ``'dilated_conv'``,
    dilation 2; the padding keeps the map's size up to the stride. A
    stage's ``dilation`` (a dilated backbone, e.g. for segmentation)
    multiplies the dilation of the 3x3 convs; 1x1 convs are unchanged.

    Example:
        >>> scale_conv_geometry(56, 1, 2, 'dilated_conv')
        {'kernel_size': 3, 'stride': 2, 'dilation': 2, 'padding': 2}
    """
    k = 3 if side is None else kernel_size(side, scale_index)
    strided = downsamples_by_conv(downsample) and factor > 1
    stride = factor if strided else 1
    d = 2 if strided and downsample == 'dilated_conv' else 1
    if k > 1:
        d *= dilation
    return dict(kernel_size=k, stride=stride, dilation=d, padding=d * (k // 2))


def pool_window(size: int, factor: int) -> int:
    """Window (and stride) that downsamples ``size`` by ``factor``.

    A map smaller than the factor is pooled whole instead of giving an empty
    map.
    """
    return max(1, min(factor, size))


def downsampled_size(size: int, factor: int, downsample: str = 'max') -> int:
    """Side of the map a scale convolves, for an input side ``size``.

    Pooling (``'max'``, ``'avg'``) works in floor mode; a strided 3x3 conv
    (``'conv'``, ``'dilated_conv'``, padding equal to the dilation) gives
    ``ceil(size / factor)``. Never less than 1.
    """
    if factor == 1:
        return size
    if not downsamples_by_conv(downsample):
        return size // pool_window(size, factor)
    return -(-size // factor)


def kernel_size(side: int, scale_index: int) -> int:
    """Kernel of the conv at scale ``scale_index`` (the authors' rule).

    Args:
        side (int): Side of the block's feature map at the reference input
            (56, 28, 14 or 7 for a 224x224 ImageNet input).
        scale_index (int): Index ``i`` of the scale, 0 for the finest.

    Returns:
        int: 3 if ``side / 2**i > 1`` else 1.
    """
    return 3 if side / 2**scale_index > 1 else 1


def upsample_is_nearest(size: Tuple[int, int],
                        pooled: Tuple[int, int]) -> bool:
    """Whether ``pooled`` goes back to ``size`` by nearest (an integer
    multiple)."""
    return all(s % p == 0 for s, p in zip(size, pooled))


def neuron_macs(in_channels: int, side: int, scale_index: int, factor: int,
                downsample: str = 'max') -> int:
    """MACs of one output neuron (channel) of one scale at the reference side.

    ``kernel area x in_channels x pooled H x pooled W``: what the neuron's
    conv costs. This is the cost ``O_kl`` of the neuron allocation.
    """
    k = kernel_size(side, scale_index)
    pooled = downsampled_size(side, factor, downsample)
    return k * k * in_channels * pooled * pooled


def conv3x3_macs(in_channels: int, out_channels: int, side: int) -> int:
    """MACs of the ResNet 3x3 conv an SA block replaces, output ``side``."""
    return 9 * in_channels * out_channels * side * side


def block_neuron_costs(in_channels: int, side: int,
                       pool_factors: Sequence[int],
                       downsample: str = 'max') -> List[int]:
    """:func:`neuron_macs` of every scale of a block: the costs ``O_kl``
    the allocation weighs and the even allocation divides its budget by."""
    return [
        neuron_macs(in_channels, side, i, f, downsample)
        for i, f in enumerate(pool_factors)
    ]


def block_budget(in_channels: int, side: int,
                 budget_ratio: float = 1.0) -> float:
    """The MACs budget ``O_k`` of a block: ``budget_ratio`` times the ResNet
    3x3 conv (``in_channels`` to ``in_channels``) it replaces."""
    return budget_ratio * conv3x3_macs(in_channels, in_channels, side)
