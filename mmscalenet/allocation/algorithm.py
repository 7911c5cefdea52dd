# Copyright (c) mmscalenet contributors. All rights reserved.
"""Select, per SA block, the output neurons worth their FLOPs.

Importance ``V`` of an output neuron is the |gamma| of its BatchNorm channel
in the trained seed net; its cost ``O_kl`` is the MACs of its conv at the
block's reference resolution; the budget ``O_k`` of block k is
``budget_ratio`` times the MACs of the ResNet 3x3 conv it replaces. Neurons
are ranked by ``V / O**b`` and kept greedily while they fit the budget.
Costs and budgets come from :mod:`mmscalenet.models.sa_geometry`, the same
arithmetic the model is built with.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from ..models.channel_spec import ChannelSpec
from ..models.sa_geometry import block_budget, block_neuron_costs


class AllocationError(ValueError):
    """The allocation cannot be computed (bad importances or budget)."""


@dataclass
class BlockAllocation:
    """The result for one SA block.

    Attributes:
        kept (list[list[int]]): Per scale, the indices of the kept seed
            channels, ascending.
        macs (int): MACs of the kept neurons.
        budget (float): The block's budget.
    """
    kept: List[List[int]]
    macs: int
    budget: float

    @property
    def channels(self) -> List[int]:
        return [len(k) for k in self.kept]


@dataclass
class AllocationResult:
    """Per-block allocations, the resulting spec and how it was made."""
    blocks: List[BlockAllocation]
    spec: ChannelSpec
    meta: dict = field(default_factory=dict)

    def report(self) -> str:
        """A table: kept channels per scale and MACs used vs budget."""
        lines = [
            f'{"block":>5}  {"channels per scale":<24}{"MACs (M)":>10}'
            f'{"budget (M)":>12}{"used":>8}'
        ]
        for k, block in enumerate(self.blocks):
            lines.append(
                f'{k:>5}  {str(block.channels):<24}{block.macs / 1e6:>10.2f}'
                f'{block.budget / 1e6:>12.2f}'
                f'{block.macs / block.budget:>8.1%}')
        return '\n'.join(lines)


def allocate_block(importance: Sequence[Sequence[float]],
                   costs: Sequence[float],
                   budget: float,
                   b: float = 0.0,
                   block: int = 0,
                   channel_divisor: int = 1) -> BlockAllocation:
    """Greedy selection for one block.

    Args:
        importance (Sequence[Sequence[float]]): Per scale, the importance of
            each seed neuron (|gamma|); an absent scale is an empty list.
        costs (Sequence[float]): Per scale, the MACs of one neuron.
        budget (float): The block's MACs budget.
        b (float): Cost exponent of the ranking ``V / O**b``. 0 (the paper)
            ranks by importance alone; b > 0 favours cheap (coarse) scales.
            Defaults to 0.
        block (int): Index of the block, for error messages. Defaults to 0.
        channel_divisor (int): Keep every scale's channel count a multiple
            of this (hardware-aware: tensor-core kernels want multiples of
            8). Each scale's neurons are taken in groups of this many, best
            first; a group ranks by its weakest member. 1 is the paper's
            neuron-by-neuron selection. Defaults to 1.

    Returns:
        BlockAllocation: Kept neurons. Ties are broken by scale index, then
        channel index (deterministic).

    Raises:
        AllocationError: NaN/infinite or all-zero importances, a budget
            below the cheapest neuron (group), or a bad divisor.
    """
    if isinstance(channel_divisor, bool) or not isinstance(
            channel_divisor, int) or channel_divisor < 1:
        raise AllocationError(f'channel_divisor must be a positive integer, '
                              f'got {channel_divisor!r}')
    candidates = []
    for scale, (values, cost) in enumerate(zip(importance, costs)):
        ranked = []
        for channel, value in enumerate(values):
            value = float(value)
            if not math.isfinite(value):
                raise AllocationError(
                    f'block {block}, scale {scale}, channel {channel}: '
                    f'importance is {value} (did the seed training diverge?)')
            ranked.append((value, channel))
        if channel_divisor > 1:
            ranked.sort(key=lambda v: (-v[0], v[1]))
        # Groups of channel_divisor neurons, best first (single neurons in
        # seed order for a divisor of 1); a trailing partial group is left.
        for start in range(0, len(ranked) - channel_divisor + 1,
                           channel_divisor):
            group = ranked[start:start + channel_divisor]
            weakest = min(v for v, _ in group)
            candidates.append((weakest / cost**b, scale, group[0][1],
                               cost * channel_divisor,
                               [c for _, c in group]))
    if not candidates:
        raise AllocationError(f'block {block}: no neurons to select from')
    if all(c[0] == 0 for c in candidates):
        raise AllocationError(
            f'block {block}: all {len(candidates)} importances are zero; '
            f'the seed net carries no information to allocate by')
    cheapest = min(c[3] for c in candidates)
    if budget < cheapest:
        unit = ('neuron' if channel_divisor == 1 else
                f'group of {channel_divisor} neurons')
        raise AllocationError(
            f'block {block}: budget {budget:.0f} MACs is below its cheapest '
            f'{unit} ({cheapest:.0f} MACs); raise budget_ratio'
            + ('' if channel_divisor == 1 else ' or lower channel_divisor'))
    # Highest score first; equal scores keep scale, then channel order.
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    kept = [[] for _ in importance]
    used = 0
    for _, scale, _, cost, channels in candidates:
        if used + cost <= budget:
            kept[scale].extend(channels)
            used += cost
    return BlockAllocation([sorted(k) for k in kept], int(used), budget)


def allocate_neurons(importance: Sequence[Sequence[Sequence[float]]],
                     widths: Sequence[int],
                     sides: Sequence[int],
                     pool_factors: Sequence[int],
                     budget_ratio: float = 1.0,
                     b: float = 0.0,
                     downsample: str = 'max',
                     meta: Optional[dict] = None,
                     channel_divisor: int = 1) -> AllocationResult:
    """Algorithm 1 for a whole network.

    Args:
        importance: Per block, per scale, the seed neurons' importances.
        widths (Sequence[int]): Per block, the SA block's input channels
            (the width of the ResNet 3x3 conv it replaces).
        sides (Sequence[int]): Per block, the reference side of its map.
        pool_factors (Sequence[int]): Pooling factor of each scale.
        budget_ratio (float): Budget as a fraction of the ResNet 3x3 conv's
            MACs: 1.0 keeps iso-FLOPs (the paper), 0.7 gives a light net.
        b (float): Cost exponent of the ranking. Defaults to 0.
        downsample (str): The SA blocks' downsampling. Defaults to 'max'.
        meta (dict, optional): Extra metadata for the spec.
        channel_divisor (int): Every kept scale a multiple of this, within
            the same budgets (see :func:`allocate_block`). Defaults to 1.

    Returns:
        AllocationResult: Per-block results and the new :class:`ChannelSpec`.
    """
    if not budget_ratio > 0:
        raise AllocationError(f'budget_ratio must be positive, got '
                              f'{budget_ratio}')
    blocks = []
    for k, (values, width, side) in enumerate(zip(importance, widths,
                                                  sides)):
        blocks.append(
            allocate_block(
                values,
                block_neuron_costs(width, side, pool_factors, downsample),
                block_budget(width, side, budget_ratio),
                b=b,
                block=k,
                channel_divisor=channel_divisor))
    meta = dict(
        meta or {},
        kind='data-driven',
        budget_ratio=budget_ratio,
        b=b,
        **({} if channel_divisor == 1 else
           dict(channel_divisor=channel_divisor)),
        pool_factors=list(pool_factors),
        block_macs=[blk.macs for blk in blocks],
        block_budgets=[blk.budget for blk in blocks])
    spec = ChannelSpec(
        [blk.channels + [side] for blk, side in zip(blocks, sides)], meta)
    return AllocationResult(blocks, spec, meta)


def even_allocation(widths: Sequence[int],
                    sides: Sequence[int],
                    pool_factors: Sequence[int],
                    budget_ratio: float = 1.0,
                    downsample: str = 'max') -> ChannelSpec:
    """Equal channels per scale within the same budgets (Figure 4's
    baseline), per block."""
    stage_blocks = [1] * len(widths)
    return ChannelSpec.even(stage_blocks, widths, sides, pool_factors,
                            budget_ratio, downsample)
