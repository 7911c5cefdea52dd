# Copyright (c) mmscalenet contributors. All rights reserved.
"""Theoretical receptive fields of each residual block (paper Figure 6).

For every block the range ``(min, max)`` of the receptive field side, in
input pixels, over the paths through the main branches (identity shortcuts
left out): the minimum takes the finest present scale of every SA block,
the maximum the coarsest. A conv of kernel k, dilation d and stride s grows
the field by ``d (k - 1)`` times the current jump and multiplies the jump by
s; a pooling window w grows it by ``(w - 1)`` jumps and multiplies the jump
by w; upsampling returns to the block's grid without changing the field.
Works on ScaleNet, CifarScaleNet, CifarResNet and mmpretrain's ResNet (any
backbone whose blocks have ``conv1``/``conv2``/``conv3``).
"""
from typing import List, Tuple

import torch.nn as nn

from ..models import SABlock
from ..models.sa_geometry import downsamples_by_conv, pool_window


def _conv_growth(conv: nn.Conv2d, jump: int) -> Tuple[int, int]:
    k, d, s = conv.kernel_size[0], conv.dilation[0], conv.stride[0]
    return d * (k - 1) * jump, jump * s


def _sa_growths(sa: SABlock, jump: int) -> List[int]:
    growths = []
    for i in sa.scales:
        factor, conv = sa.pool_factors[i], sa.convs[str(i)]
        if downsamples_by_conv(sa.downsample):
            growths.append(_conv_growth(conv, jump)[0])
        else:
            # The pooling window at the block's reference side (a map
            # smaller than the factor is pooled whole).
            window = factor if sa.side is None else pool_window(
                sa.side, factor)
            growths.append((window - 1) * jump +
                           _conv_growth(conv, jump * window)[0])
    return growths


def _blocks(backbone: nn.Module) -> List[nn.Module]:
    return [
        m for m in backbone.modules()
        if all(hasattr(m, n) for n in ('conv1', 'conv2', 'conv3'))
    ]


def receptive_field_ranges(backbone: nn.Module) -> List[Tuple[int, int]]:
    """``(min, max)`` receptive field side after each residual block."""
    r, jump = _conv_growth(backbone.conv1, 1)
    r += 1
    maxpool = getattr(backbone, 'maxpool', None)
    if isinstance(maxpool, nn.MaxPool2d):
        r += (maxpool.kernel_size - 1) * jump
        jump *= maxpool.stride
    lo = hi = r
    ranges = []
    for block in _blocks(backbone):
        if isinstance(block.conv2, SABlock):
            if block.stride > 1:  # the 2x2 max pool before the block
                lo += (block.stride - 1) * jump
                hi += (block.stride - 1) * jump
                jump *= block.stride
            growths = _sa_growths(block.conv2, jump)
            lo, hi = lo + min(growths), hi + max(growths)
        else:
            for conv in (block.conv1, block.conv2, block.conv3):
                growth, new_jump = _conv_growth(conv, jump)
                lo, hi, jump = lo + growth, hi + growth, new_jump
        ranges.append((lo, hi))
    return ranges
