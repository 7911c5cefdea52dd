# Copyright (c) mmscalenet contributors. All rights reserved.
"""CIFAR networks of the paper's section 4.2: ScaleNet and its ResNet.

Both are bottleneck nets of ``9n + 2`` layers: a 16-channel 3x3 stem conv,
three stages of ``n`` blocks at 32, 16 and 8 pixels with widths 16, 32 and
64 (outputs 64, 128, 256), global pooling and the classifier. ``n`` = 4, 6
and 10 give the 38-, 56- and 101-layer nets, as the paper states (its
``9n + 2`` count would give 92 layers for n = 10; the names follow the
paper's, the block counts its stated n).
"""
from typing import Sequence

import torch.nn as nn

from ..registry import register_model
from .bottleneck import Bottleneck
from .residual import ResidualBackbone
from .sa_geometry import CIFAR_POOL_FACTORS
from .scalenet import SABottleneck, ScaleNet

#: Blocks per stage of the CIFAR nets, by depth.
CIFAR_STAGE_BLOCKS = {38: (4, 4, 4), 56: (6, 6, 6), 101: (10, 10, 10)}


class CifarStemMixin:
    """The CIFAR stem, as mmpretrain's ``ResNet_CIFAR``: one 3x3 conv and
    its norm (then the ReLU), no pooling. Overrides
    :meth:`ResidualBackbone._make_stem_layer` only."""

    unsupported_settings = {
        'deep_stem': (False, 'the CIFAR stem is one stride-1 3x3 conv, as '
                      "mmpretrain's ResNet_CIFAR refuses deep_stem too")
    }

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.add_stem_conv(in_channels, stem_channels, kernel_size=3,
                           stride=1)
        self.maxpool = nn.Identity()


@register_model
class CifarScaleNet(CifarStemMixin, ScaleNet):
    """ScaleNet for 32x32 inputs (ScaleNet-38/56/101, L = 3).

    Takes the arguments of :class:`ScaleNet` with CIFAR defaults; the
    default structure is ``'even'`` (equal channels per scale at the FLOPs of
    the ResNet it replaces), since the paper's learned CIFAR allocations
    were not released: learn one with the neuron allocation.

    Example:
        >>> import torch
        >>> model = CifarScaleNet(depth=56)
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 256, 8, 8)]
    """

    arch_settings = {
        depth: (SABottleneck, blocks)
        for depth, blocks in CIFAR_STAGE_BLOCKS.items()
    }
    stem_stride = 1
    default_structure = 'even'

    def __init__(self,
                 depth: int,
                 structure=None,
                 pool_factors: Sequence[int] = CIFAR_POOL_FACTORS,
                 stem_channels: int = 16,
                 base_channels: int = 16,
                 out_indices: Sequence[int] = (2, ),
                 reference_size: int = 32,
                 **kwargs):
        super().__init__(
            depth,
            structure,
            pool_factors=pool_factors,
            stem_channels=stem_channels,
            base_channels=base_channels,
            out_indices=out_indices,
            reference_size=reference_size,
            **kwargs)


@register_model
class CifarResNet(CifarStemMixin, ResidualBackbone):
    """The bottleneck ResNet baseline of the CIFAR ScaleNets.

    Stride-2 3x3 convs start stages 2 and 3; projection shortcuts where the
    shape changes. Takes the arguments of :class:`ResidualBackbone` with
    CIFAR defaults, and:

    Args:
        depth (int): 38, 56 or 101.
        widen_factor (float): Multiplies every stage's bottleneck width
            (rounded to the nearest integer), to compare with a ScaleNet at
            equal whole-network MACs. Defaults to 1.0.
        stem_channels (int): Stem width. Defaults to 16.
        base_channels (int): First-stage bottleneck width. Defaults to 16.
        out_indices (Sequence[int]): Stages to output. Defaults to (2, ).
        **kwargs: The other arguments of :class:`ResidualBackbone`.

    Example:
        >>> import torch
        >>> model = CifarResNet(depth=38)
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 256, 8, 8)]
        >>> CifarResNet(depth=38, widen_factor=1.1).feat_dim
        280
    """

    arch_settings = {
        depth: (Bottleneck, blocks)
        for depth, blocks in CIFAR_STAGE_BLOCKS.items()
    }
    stem_stride = 1
    #: Input side the net is designed for (tools use it as default input).
    reference_size = 32

    def __init__(self,
                 depth: int,
                 widen_factor: float = 1.0,
                 stem_channels: int = 16,
                 base_channels: int = 16,
                 out_indices: Sequence[int] = (2, ),
                 **kwargs):
        if not widen_factor > 0:
            raise ValueError(f'widen_factor must be positive, got '
                             f'{widen_factor}')
        self.widen_factor = widen_factor
        super().__init__(
            depth,
            stem_channels=stem_channels,
            base_channels=base_channels,
            out_indices=out_indices,
            **kwargs)

    def stage_width(self, stage: int) -> int:
        return max(1, round(super().stage_width(stage) * self.widen_factor))
