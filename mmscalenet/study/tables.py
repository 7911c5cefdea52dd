# Copyright (c) mmscalenet contributors. All rights reserved.
"""What the study's tables share: the runs by kind and seed, mean +- std
cells, the rows of paired per-seed differences, their notes, and which
runs were trained on the same kind of machine."""
from typing import Dict, List, Sequence

from .stats import mean_interval, mean_std

INTERVAL_NOTE = ('The interval: Student\'s t over the paired seeds; an '
                 'interval that contains 0 is no evidence of a difference '
                 'either way.')
MACHINE_NOTE = ('(m): the two runs were trained on different kinds of '
                'machine (their records\' `machine`); a run reproduces on '
                'its own kind of machine, not across kinds.')


#: The seed nets whose allocations the report describes.
SEED_KINDS = ('seed', 'seed-long', 'seed-l1', 'seed-l1-ranked')


def runs_by_kind(results: dict) -> Dict[str, Dict[int, dict]]:
    """``{kind: {seed: record}}`` of the study's (non-selection) runs."""
    table: Dict[str, Dict[int, dict]] = {}
    for record in results['runs'].values():
        if record.get('evaluated_on'):
            continue
        table.setdefault(record['kind'], {})[record['seed']] = record
    return table


def mean_pm(values: Sequence[float], digits: int = 2) -> str:
    """``'mean +- std'`` (``'mean'`` alone for one value)."""
    mean, std = mean_std(values)
    return f'{mean:.{digits}f}' + ('' if std is None else
                                   f' +- {std:.{digits}f}')


def difference_header(seeds: Sequence[int]) -> List[str]:
    """The header of a table of per-seed differences."""
    return [
        '| difference (top-1 points) | ' +
        ' | '.join(f'seed {s}' for s in seeds) +
        ' | mean +- std | 95% interval of the mean | MACs a / b |',
        '|---|' + '---|' * len(seeds) + '---|---|---|'
    ]


def difference_row(name: str, cells: str, diffs: Sequence[float],
                   macs_ratio: float) -> str:
    """One comparison's row: its per-seed ``cells``, then the mean and the
    95% interval of the mean of ``diffs``, and the MACs ratio a / b."""
    interval = mean_interval(diffs)
    return (f'| {name} | {cells} | {mean_pm(diffs)} (n={len(diffs)}) | ' +
            ('-' if interval is None else
             f'{interval[0]:+.2f} to {interval[1]:+.2f}') +
            f' | {macs_ratio:.3f} |')


def machine_kind(record: dict) -> tuple:
    """The kind of machine a run was trained on: CPU model, the kernels
    torch chose, GPU (the first round recorded none of them)."""
    m = record.get('machine', {})
    return m.get('cpu'), m.get('cpu_capability'), m.get('gpu')


def same_machine(a: dict, b: dict) -> bool:
    """Whether two runs were trained on the same kind of machine (CPU model
    and the kernels torch chose; the first round recorded neither, so its
    runs match only each other)."""
    return machine_kind(a) == machine_kind(b)
