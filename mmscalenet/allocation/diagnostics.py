# Copyright (c) mmscalenet contributors. All rights reserved.
"""Could the seed's ranking have decided an allocation? Its diagnostics.

An allocation is only as informative as the |gamma| ranking behind it. Two
ways it carries nothing: the |gamma|s are nearly tied (a seed trained too
briefly: the kept neurons could as well have been the dropped ones), or the
budget is filled with neurons whose |gamma| is at or near zero (too strong an
L1 penalty: the budget's cut falls among zeros). These numbers say which, and
:meth:`AllocationDiagnostics.warning` names the remedy. The hook, the
offline tool and the study report all use this one home of the arithmetic.
"""
import statistics
from dataclasses import dataclass
from typing import List, Optional, Sequence

#: A |gamma| below this fraction of the largest |gamma| of the seed net
#: counts as "at or near zero".
NEAR_ZERO = 0.01
#: A kept neuron whose |gamma| is within this relative margin of the best
#: dropped neuron of its block is "tied" with the cut: the ranking barely
#: preferred it.
TIE_MARGIN = 0.05
#: Warn when more than this share of the kept neurons is tied with the cut.
MAX_TIED_SHARE = 0.5
#: Warn when more than this share of the kept neurons is near zero.
MAX_NEAR_ZERO_SHARE = 0.10


def proportions(rows: Sequence[Sequence[int]]) -> List[List[float]]:
    """Per block, each scale's share of the block's channels (spec rows:
    channels per scale, then the side)."""
    return [[c / sum(row[:-1]) for c in row[:-1]] for row in rows]


def moved_share(rows: Sequence[Sequence[int]],
                even_rows: Sequence[Sequence[int]]) -> float:
    """Mean over blocks of the share of channels that would have to move
    between scales to turn the even proportions into these (total variation
    distance: 0 = even, 1 = every channel on another scale).

    Example:
        >>> round(moved_share([[2, 2, 0, 8]], [[2, 2, 2, 8]]), 4)
        0.3333
    """
    moved = [
        0.5 * sum(abs(p - q) for p, q in zip(ps, qs))
        for ps, qs in zip(proportions(rows), proportions(even_rows))
    ]
    return statistics.fmean(moved)


@dataclass
class AllocationDiagnostics:
    """How much the ranking decided one allocation.

    Attributes:
        moved_from_even (float): :func:`moved_share` against the even
            allocation at the same budget.
        kept (int): Kept neurons.
        near_zero (int): Kept neurons with |gamma| below ``NEAR_ZERO`` times
            the seed net's largest.
        tied (int): Kept neurons within ``TIE_MARGIN`` of their block's best
            dropped neuron.
    """
    moved_from_even: float
    kept: int
    near_zero: int
    tied: int

    @property
    def near_zero_share(self) -> float:
        return self.near_zero / self.kept if self.kept else 0.0

    @property
    def tied_share(self) -> float:
        return self.tied / self.kept if self.kept else 0.0

    def summary(self) -> str:
        return (f'{self.moved_from_even:.1%} of the channels moved from the '
                f'even allocation; of {self.kept} kept neurons, '
                f'{self.tied} ({self.tied_share:.0%}) have a |gamma| within '
                f'{TIE_MARGIN:.0%} of the best dropped one (tied) and '
                f'{self.near_zero} ({self.near_zero_share:.0%}) a |gamma| '
                f'near 0')

    def warning(self) -> Optional[str]:
        """One line when the ranking cannot have decided the allocation,
        naming the remedy; None when it can."""
        reasons, remedies = [], []
        if self.near_zero_share > MAX_NEAR_ZERO_SHARE:
            reasons.append(f'{self.near_zero_share:.0%} of the kept neurons '
                           f'have |gamma| near 0 (the budget was filled by '
                           f'zeros)')
            remedies.append('lower the L1 penalty (GammaSparsityHook '
                            'lambda_l1)')
        if self.tied_share > MAX_TIED_SHARE:
            reasons.append(f'{self.tied_share:.0%} of the kept neurons are '
                           f'tied with the best dropped one (within '
                           f'{TIE_MARGIN:.0%} of its |gamma|)')
            remedies.append('train the seed longer (SeedReadinessHook shows '
                            'when its ranking settles)')
        if not reasons:
            return None
        return ('the |gamma| ranking cannot have decided this allocation: '
                + ' and '.join(reasons) + '; ' + ' or '.join(remedies))


def diagnose_allocation(importance: Sequence[Sequence[Sequence[float]]],
                        kept: Sequence[Sequence[Sequence[int]]],
                        rows: Sequence[Sequence[int]],
                        even_rows: Sequence[Sequence[int]]
                        ) -> AllocationDiagnostics:
    """The diagnostics of one allocation.

    Args:
        importance: Per block, per scale, the seed neurons' |gamma|.
        kept: Per block, per scale, the indices of the kept neurons.
        rows: The allocated spec's rows.
        even_rows: The even allocation's rows at the same budget.

    Example:
        >>> d = diagnose_allocation([[[1.0, 0.99], [0.5, 0.001]]],
        ...                         [[[0, 1], [0]]], [[2, 1, 8]], [[1, 1, 8]])
        >>> d.kept, d.tied, d.near_zero
        (3, 0, 0)
    """
    values = [v for block in importance for scale in block for v in scale]
    largest = max(values) if values else 0.0
    n_kept = near = tied = 0
    for block_values, block_kept in zip(importance, kept):
        kept_values, dropped = [], []
        for scale_values, indices in zip(block_values, block_kept):
            chosen = set(indices)
            for i, v in enumerate(scale_values):
                (kept_values if i in chosen else dropped).append(v)
        n_kept += len(kept_values)
        near += sum(v < NEAR_ZERO * largest for v in kept_values)
        if dropped:
            cut = max(dropped)
            tied += sum(v <= cut * (1 + TIE_MARGIN) for v in kept_values)
    return AllocationDiagnostics(
        moved_share(rows, even_rows), n_kept, near, tied)
