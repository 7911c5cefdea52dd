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
    """Bisect the budget ratio for the even spec whose MACs are closest to
    ``target`` (MACs grow with the ratio). Where no single ratio lands
    within ``tolerance`` (relative), each stage (a run of blocks of one
    side) may take one channel more or fewer at every scale of its blocks:
    the combination closest to the target. Every block stays even (equal
    channels at its scales), and so does every stage. Raise ``ValueError``
    when even that cannot reach the tolerance.

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

    if macs(rows_at(low)) > target or macs(rows_at(high)) < target:
        raise ValueError(f'no even allocation with budget ratio in '
                         f'[{low}, {high}] reaches {target} MACs')
    for _ in range(steps):
        middle = (low + high) / 2
        if macs(rows_at(middle)) <= target:
            low = middle
        else:
            high = middle
    ratio = min((low, high), key=lambda r: abs(macs(rows_at(r)) - target))
    rows = rows_at(ratio)
    if abs(macs(rows) / target - 1) > tolerance:
        # Per stage one channel more or fewer at every scale of its blocks,
        # around the spec at the ratio: the combination closest to target.
        sides = sorted({row[-1] for row in rows}, reverse=True)
        candidates = []
        for offsets in itertools.product((-1, 0, 1), repeat=len(sides)):
            shift = dict(zip(sides, offsets))
            candidates.append([[c + shift[row[-1]] if c else 0
                                for c in row[:-1]] + row[-1:]
                               for row in rows])
        candidates = [r for r in candidates
                      if all(c >= 0 for row in r for c in row[:-1])
                      and all(any(row[:-1]) for row in r)]
        rows = min(candidates, key=lambda r: abs(macs(r) - target))
    matched = MatchedEven(rows, macs(rows), round(ratio, 6), target)
    if abs(matched.relative_error) > tolerance:
        raise ValueError(
            f'the even allocation closest to {target} MACs has '
            f'{matched.macs} ({matched.relative_error:+.2%}), outside the '
            f'tolerance of {tolerance:.0%}')
    return matched


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
