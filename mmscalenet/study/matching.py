# Copyright (c) mmscalenet contributors. All rights reserved.
"""The even allocation at a given whole-network MACs.

A data-driven allocation fills each block's budget of SA-conv MACs with its
best neurons, but the 1x1 conv after each SA block grows with the channels
it keeps, so a data-driven net can cost more than the even net at the same
budget ratio. To compare the allocations alone, the even net is widened or
narrowed (its budget ratio searched) until its MACs, 1x1 convs and head
included, equal the data-driven net's.
"""
import copy
import itertools
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

from mmengine.registry import MODELS, init_default_scope

from ..allocation import even_allocation, find_scalenet, sa_layout
from ..analysis import config_model_complexity


@dataclass
class MatchedEven:
    """An even allocation matched to a target.

    Attributes:
        rows (list): Its spec rows.
        macs (int): Its whole-network MACs.
        budget_ratio (float): The even allocation's budget ratio (before
            any stage was changed to reach the tolerance).
        target (int): The MACs it was matched to.
    """
    rows: List[List[int]]
    macs: int
    budget_ratio: float
    target: int

    @property
    def relative_error(self) -> float:
        return self.macs / self.target - 1


def search_even_ratio(rows_at: Callable[[float], List[List[int]]],
                      macs_of: Callable[[Tuple], int],
                      target: int,
                      tolerance: float,
                      low: float = 0.25,
                      high: float = 4.0,
                      steps: int = 24) -> MatchedEven:
    """Search the budget ratio for the even spec whose MACs are closest to
    ``target`` (MACs grow with the ratio, about linearly: regula falsi,
    Illinois variant, to a bracket ``2**-steps`` of the range wide). Where
    no single ratio lands within ``tolerance`` (relative), each stage (a run
    of blocks of one side) may take one channel more or fewer at every scale
    of its blocks: the combination closest to the target. Every block stays
    even (equal channels at its scales), and so does every stage. Raise
    ``ValueError`` when even that cannot reach the tolerance.

    The combinations' MACs are predicted from one measured step per stage:
    a ScaleNet's MACs are affine in its channel counts, as every SA block
    sits between two 1x1 convs (a bottleneck). The closest is measured; a
    measurement other than its prediction raises ``ValueError``.

    Args:
        rows_at: The even spec rows at a budget ratio.
        macs_of: The MACs of a spec (rows as a tuple of tuples).
        target (int): MACs to match.
        tolerance (float): Largest relative difference accepted.

    Example:
        >>> rows_at = lambda r: [[int(8 * r), 32], [int(8 * r), 16]]
        >>> macs_of = lambda rows: 1000 * rows[0][0] + 300 * rows[1][0]
        >>> search_even_ratio(rows_at, macs_of, 11700, 0.01).rows
        [[9, 32], [9, 16]]
        >>> search_even_ratio(rows_at, macs_of, 11500, 0.01).rows
        [[9, 32], [8, 16]]
    """
    cache: Dict[Tuple, int] = {}

    def macs(rows: List[List[int]]) -> int:
        key = tuple(tuple(r) for r in rows)
        if key not in cache:
            cache[key] = macs_of(key)
        return cache[key]

    below, above = macs(rows_at(low)) - target, macs(rows_at(high)) - target
    if below > 0 or above < 0:
        raise ValueError(f'no even allocation with budget ratio in '
                         f'[{low}, {high}] reaches {target} MACs')
    width = (high - low) / 2**steps
    kept = None  # the end the last step kept
    while high - low > width and below < 0:
        ratio = (low * above - high * below) / (above - below)
        ratio = min(max(ratio, low + width / 2), high - width / 2)
        error = macs(rows_at(ratio)) - target
        if error <= 0:
            low, below = ratio, error
            above = above / 2 if kept == 'high' else above
            kept = 'high'
        else:
            high, above = ratio, error
            below = below / 2 if kept == 'low' else below
            kept = 'low'
    ratio = min((low, high), key=lambda r: abs(macs(rows_at(r)) - target))
    rows = rows_at(ratio)
    if abs(macs(rows) / target - 1) > tolerance:
        rows = closest_stage_steps(rows, macs, target)
    matched = MatchedEven(rows, macs(rows), round(ratio, 6), target)
    if abs(matched.relative_error) > tolerance:
        raise ValueError(
            f'the even allocation closest to {target} MACs has '
            f'{matched.macs} ({matched.relative_error:+.2%}), outside the '
            f'tolerance of {tolerance:.0%}')
    return matched


def closest_stage_steps(rows: List[List[int]],
                        macs: Callable[[List[List[int]]], int],
                        target: int) -> List[List[int]]:
    """Of ``rows`` with each stage one channel more, fewer or the same at
    every scale of its blocks (scales without channels stay so), the
    combination whose MACs are closest to ``target``."""
    sides = sorted({row[-1] for row in rows}, reverse=True)

    def shifted(offsets: Tuple[int, ...]) -> List[List[int]]:
        shift = dict(zip(sides, offsets))
        return [[c + shift[row[-1]] if c else 0 for c in row[:-1]] +
                row[-1:] for row in rows]

    combinations = [
        offsets
        for offsets in itertools.product((-1, 0, 1), repeat=len(sides))
        if all(c >= 0 for row in shifted(offsets) for c in row[:-1])
        and all(any(row[:-1]) for row in shifted(offsets))
    ]
    base = macs(rows)
    steps = [
        macs(shifted(tuple(int(s == side) for s in sides))) - base
        for side in sides
    ]

    def predicted(offsets: Tuple[int, ...]) -> int:
        return base + sum(o * step for o, step in zip(offsets, steps))

    best = min(combinations, key=lambda o: abs(predicted(o) - target))
    if macs(shifted(best)) != predicted(best):
        raise ValueError(
            f'MACs not affine in the channel counts: {shifted(best)} has '
            f'{macs(shifted(best))}, predicted {predicted(best)} from the '
            f'steps of one stage')
    return shifted(best)


def even_at_macs(model_cfg: dict,
                 target: int,
                 tolerance: float,
                 input_side: int,
                 scope: str = 'mmpretrain') -> MatchedEven:
    """The even allocation of the ScaleNet in ``model_cfg`` whose model has
    ``target`` MACs within ``tolerance``, measured as the study measures
    every run (:func:`config_model_complexity` at ``input_side``).

    Example:
        >>> cfg = dict(type='ImageClassifier',
        ...            backbone=dict(type='CifarScaleNet', depth=38,
        ...                          structure='even'),
        ...            neck=dict(type='GlobalAveragePooling'),
        ...            head=dict(type='LinearClsHead', num_classes=10,
        ...                      in_channels=256))
        >>> matched = even_at_macs(cfg, 76_000_000, 0.01, 32)
        >>> abs(matched.relative_error) <= 0.01
        True
    """
    init_default_scope(scope)
    layout = sa_layout(find_scalenet(MODELS.build(model_cfg)))

    def rows_at(ratio: float) -> List[List[int]]:
        return even_allocation(budget_ratio=ratio, **layout).rows()

    def macs_of(rows: Tuple) -> int:
        cfg = copy.deepcopy(model_cfg)
        cfg['backbone']['structure'] = [list(r) for r in rows]
        model = MODELS.build(cfg).eval()
        return config_model_complexity(model, scope,
                                       (input_side, input_side)).macs

    return search_even_ratio(rows_at, macs_of, target, tolerance)
