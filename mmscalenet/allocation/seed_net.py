# Copyright (c) mmscalenet contributors. All rights reserved.
"""The trained seed ScaleNet as the allocation sees it: its SA blocks, their
widths and sides, and the |gamma| of every SA neuron."""
from typing import List

import torch.nn as nn

from ..models import ChannelSpec, SABottleneck, ScaleNet
from .algorithm import (AllocationError, AllocationResult, allocate_neurons,
                        even_allocation)
from .diagnostics import AllocationDiagnostics, diagnose_allocation


def find_scalenet(model: nn.Module) -> ScaleNet:
    """The ScaleNet backbone inside ``model`` (a classifier, a detector, a
    DDP-wrapped model or the backbone itself)."""
    model = getattr(model, 'module', model)
    found = [m for m in model.modules() if isinstance(m, ScaleNet)]
    if not found:
        raise AllocationError(
            f'no ScaleNet backbone in the model ({type(model).__name__}): '
            f'the neuron allocation needs a seed ScaleNet')
    return found[0]


def sa_blocks(backbone: ScaleNet) -> List[SABottleneck]:
    return [m for m in backbone.modules() if isinstance(m, SABottleneck)]


def seed_importance(backbone: ScaleNet) -> List[List[List[float]]]:
    """Per block, per scale, |gamma| of each SA output channel's norm."""
    importance = []
    for k, block in enumerate(sa_blocks(backbone)):
        sa = block.conv2
        scales = []
        for i in range(len(sa.out_channels)):
            if i not in sa.scales:
                scales.append([])
                continue
            norm = sa.norms[str(i)]
            if getattr(norm, 'weight', None) is None:
                raise AllocationError(
                    f'block {k}, scale {i}: the norm layer has no affine '
                    f'weight (gamma) to rank neurons by')
            scales.append(norm.weight.detach().abs().cpu().tolist())
        importance.append(scales)
    return importance


def sa_layout(backbone: ScaleNet) -> dict:
    """What the allocation needs to know of a ScaleNet's SA blocks: per
    block the input width (the replaced 3x3 conv's) and the reference side,
    and the network's pooling factors and downsampling."""
    blocks = sa_blocks(backbone)
    return dict(
        widths=[blk.planes for blk in blocks],
        sides=[blk.conv2.side for blk in blocks],
        pool_factors=backbone.pool_factors,
        downsample=blocks[0].conv2.downsample)


def allocate_from_model(model: nn.Module,
                        budget_ratio: float = 1.0,
                        b: float = 0.0,
                        meta: dict = None,
                        channel_divisor: int = 1) -> AllocationResult:
    """Run the allocation on the seed ScaleNet inside ``model``."""
    backbone = find_scalenet(model)
    return allocate_neurons(
        seed_importance(backbone),
        budget_ratio=budget_ratio,
        b=b,
        meta=meta,
        channel_divisor=channel_divisor,
        **sa_layout(backbone))


def even_allocation_of_model(model: nn.Module,
                             budget_ratio: float = 1.0) -> ChannelSpec:
    """The even allocation at the same budgets for the ScaleNet inside
    ``model`` (no weights needed)."""
    return even_allocation(
        budget_ratio=budget_ratio, **sa_layout(find_scalenet(model)))


def diagnose_model_allocation(model: nn.Module,
                              result: AllocationResult
                              ) -> AllocationDiagnostics:
    """How much the seed's |gamma| ranking decided ``result`` (an allocation
    of the seed ScaleNet inside ``model``): distance from the even
    allocation at the same budget, kept neurons tied with the cut or near
    zero (see :mod:`mmscalenet.allocation.diagnostics`)."""
    backbone = find_scalenet(model)
    even = even_allocation(
        budget_ratio=result.meta.get('budget_ratio', 1.0),
        **sa_layout(backbone))
    return diagnose_allocation(
        seed_importance(backbone), [blk.kept for blk in result.blocks],
        result.spec.rows(), even.rows())
