# Copyright (c) mmscalenet contributors. All rights reserved.
"""The 1x1 conv after an SA block, run per scale on the pooled maps.

In an SA bottleneck the SA block's scales are concatenated, go through a
ReLU and then the block's 1x1 conv (``conv3``). Where a scale's upsampling
only repeats pixels (nearest, integer factor), the ReLU and that scale's
share of the 1x1 conv (its input columns) commute with the repetition: the
share can run on the pooled map and its output be repeated, which a
broadcast add into the full-size output does without a copy. The other
scales (full size, or bilinearly upsampled) go through their columns of the
conv together. The outputs are the plain order's to float rounding; the
conv's MACs drop (ScaleNet-50: 3.57 instead of 3.82 GMACs), the memory
traffic of the adds into full-size maps grows. On a CPU this was measured
1.5x slower for the first block at batch 16, so only GPUs may take it
(:mod:`~mmscalenet.models.execution`, ``pooled_projection``).

Example:
    >>> import torch
    >>> import torch.nn as nn
    >>> conv = nn.Conv2d(6, 8, 1)
    >>> fine, coarse = torch.rand(1, 4, 4, 4), torch.rand(1, 2, 2, 2)
    >>> full = torch.cat([fine, coarse.repeat_interleave(2, 2)
    ...                   .repeat_interleave(2, 3)], 1)
    >>> out = project_scales([(fine, False), (coarse, True)], conv, (4, 4))
    >>> torch.allclose(out, conv(full.relu()), atol=1e-6)
    True
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def projects_per_scale(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain 1x1 conv whose input columns can be split
    by scale (a subclass, e.g. weight-standardised, transforms its weight
    as a whole and keeps the plain order)."""
    return type(conv) is nn.Conv2d and conv.kernel_size == (1, 1) and \
        conv.stride == (1, 1) and conv.padding == (0, 0) and \
        conv.groups == 1 and conv.padding_mode == 'zeros'


def project_scales(parts: Sequence[Tuple[torch.Tensor, bool]],
                   conv: nn.Conv2d, size: Tuple[int, int]) -> torch.Tensor:
    """``conv(relu(cat(upsampled parts)))`` with the repeated scales' shares
    of ``conv`` on their pooled maps.

    Args:
        parts (Sequence[tuple[Tensor, bool]]): Per scale, in concatenation
            order, its output and whether it still has to be repeated up to
            ``size`` (nearest upsampling by an integer factor), as
            :meth:`~mmscalenet.models.SABlock.forward_scales` gives them.
        conv (nn.Conv2d): The 1x1 conv after the SA block
            (:func:`projects_per_scale`).
        size (tuple[int, int]): The full-size map's height and width.
    """
    columns = conv.weight.split([y.shape[1] for y, _ in parts], dim=1)
    full: List[Tuple[torch.Tensor, torch.Tensor]] = []
    pooled: List[Tuple[torch.Tensor, torch.Tensor]] = []
    for (y, repeat), weight in zip(parts, columns):
        # In place, as the plain order's ReLU on the concatenation.
        (pooled if repeat else full).append(
            (F.relu(y, inplace=True), weight))
    if full:
        out = F.conv2d(
            torch.cat([y for y, _ in full], 1) if len(full) > 1 else
            full[0][0],
            torch.cat([w for _, w in full], 1) if len(full) > 1 else
            full[0][1], conv.bias)
    else:  # every scale pooled: the first one repeated starts the sum
        y, weight = pooled.pop(0)
        out = F.interpolate(
            F.conv2d(y, weight, conv.bias), size=size, mode='nearest')
    h, w = size
    for y, weight in pooled:
        z = F.conv2d(y, weight)
        ph, pw = z.shape[-2:]
        # Splitting a dimension is a view in any memory layout.
        out.unflatten(3, (pw, w // pw)).unflatten(2, (ph, h // ph)).add_(
            z[:, :, :, None, :, None])
    return out
