# Copyright (c) mmscalenet contributors. All rights reserved.
"""The study's statistics, in one place: mean and sample standard
deviation, Student's t quantile, the 95% interval of a mean of paired
differences, and the pooled within-group standard deviation."""
import statistics
from typing import Optional, Sequence, Tuple

#: Two-sided 95% quantiles of Student's t by degrees of freedom (n - 1 for
#: n paired seeds); past 30 the normal 1.960 (under 5% narrower than t).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
         2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)


def t_975(dof: int) -> float:
    """Student's t two-sided 95% quantile at ``dof`` degrees of freedom.

    Example:
        >>> t_975(2), t_975(100)
        (4.303, 1.96)
    """
    return T_975[dof - 1] if dof <= len(T_975) else 1.960


def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (None for one value)."""
    values = list(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std


def mean_interval(values: Sequence[float]) -> Optional[Tuple[float, float]]:
    """The 95% confidence interval of the mean of paired differences
    (Student's t; None for one value).

    Example:
        >>> [round(x, 2) for x in mean_interval([1.0, 0.0, 2.0])]
        [-1.48, 3.48]
    """
    mean, std = mean_std(values)
    if std is None:
        return None
    n = len(values)
    half = t_975(n - 1) * std / n**0.5
    return mean - half, mean + half


def pooled_std(groups: Sequence[Sequence[float]]) -> Tuple[float, int]:
    """The pooled within-group standard deviation and its degrees of
    freedom (the sum of each group's n - 1).

    Example:
        >>> std, dof = pooled_std([[1.0, 3.0], [2.0, 2.0, 5.0]])
        >>> round(std, 3), dof
        (1.633, 3)
    """
    squares = sum((x - statistics.fmean(group))**2
                  for group in groups for x in group)
    dof = sum(len(group) - 1 for group in groups)
    return (squares / dof)**0.5, dof
