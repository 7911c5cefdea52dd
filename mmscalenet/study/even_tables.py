# Copyright (c) mmscalenet contributors. All rights reserved.
"""The tables of the seeds' even nets: how much one even net's top-1 moves
between nets a few channels apart (the study's noise), and each
data-driven net against the mean of its seed's even nets near its MACs."""
import statistics
from typing import Dict, List, Tuple

from .protocol import ALL_KINDS, SEED_OF
from .records import even_nets_of
from .stats import mean_std, pooled_std, t_975
from .tables import (difference_header, difference_row, machine_kind,
                     runs_by_kind)

#: How near an even net's MACs must be to a data-driven net's (ratio) to
#: count among its even nets in :func:`nearby_even_table`.
NEARBY_MACS = 0.03
NEARBY_HEADING = ('Data-driven minus the mean of its seed\'s even nets near '
                  'its MACs')


def distinct_even_nets(results: dict) -> Dict[int, List[dict]]:
    """Per seed, one record per even net (:func:`.records.even_nets_of`)
    that differs in its structure or in its kind of machine (a reused even
    net is the same run twice)."""
    nets: Dict[int, Dict[tuple, dict]] = {}
    seeds = sorted({r['seed'] for r in results['runs'].values()
                    if not r.get('evaluated_on')})
    for seed in seeds:
        for record in even_nets_of(results, seed).values():
            rows = record.get('spec', {}).get('rows') or []
            nets.setdefault(seed, {}).setdefault(
                (tuple(map(tuple, rows)), machine_kind(record)), record)
    return {seed: list(specs.values()) for seed, specs in nets.items()}


def even_groups(results: dict) -> List[Tuple[int, List[dict]]]:
    """(seed, its distinct even nets of one kind of machine, by MACs) for
    every group of two or more."""
    groups = []
    for seed, records in sorted(distinct_even_nets(results).items()):
        by_machine: Dict[tuple, List[dict]] = {}
        for record in records:
            by_machine.setdefault(machine_kind(record), []).append(record)
        groups += [(seed, sorted(group, key=lambda r: r['macs']))
                   for group in by_machine.values() if len(group) > 1]
    return groups


def even_noise_line(results: dict) -> List[str]:
    """The pooled within-seed std of an even net's top-1 (one seed, one
    machine, nearly one width), as a sentence; none without two such nets.

    Example:
        >>> from mmscalenet.study.even_tables import even_noise_line
        >>> results = dict(runs={
        ...     f'seed0/{kind}': dict(kind=kind, seed=0, top1=top1, macs=1,
        ...                           spec=dict(rows=[[width]]))
        ...     for kind, top1, width in (('even-matched', 81.0, 12),
        ...                               ('even-matched-l1', 83.0, 13))})
        >>> even_noise_line(results)[0][:60]
        "Pooled within-seed std of an even net's top-1: 1.41 points ("
    """
    groups = [[r['top1'] for r in group] for _, group in even_groups(results)]
    if not groups:
        return []
    pooled, dof = pooled_std(groups)
    seeds = len({r['seed'] for r in results['runs'].values()})
    half = t_975(dof) * pooled * 2**0.5 / seeds**0.5
    return [
        f'Pooled within-seed std of an even net\'s top-1: {pooled:.2f} '
        f'points (degrees of freedom: {dof}). Two nets of one seed and '
        f'nearly one width (one to three channels per scale apart) then '
        f'differ by a std of about {pooled * 2**0.5:.2f} points per pair, '
        f'and the mean of {seeds} seeds\' pairs has a 95% interval of about '
        f'+-{half:.2f} points (Student\'s t on the pooled std).'
    ]


def even_spread_table(results: dict) -> List[str]:
    """How far one seed's even nets of nearly one width, trained on one
    machine, are apart: the noise floor of a paired difference."""
    groups = even_groups(results)
    if not groups:
        return []
    lines = [
        '| seed | even nets on one machine (MACs M: top-1 %) | range | std |',
        '|---|---|---|---|'
    ]
    for seed, group in groups:
        top1 = [r['top1'] for r in group]
        nets = ', '.join(f'{r["macs"] / 1e6:.2f}: {r["top1"]:.2f}'
                         for r in group)
        lines.append(f'| {seed} | {nets} | {max(top1) - min(top1):.2f} | '
                     f'{mean_std(top1)[1]:.2f} |')
    return lines + [''] + even_noise_line(results)


def nearby_even_table(results: dict) -> List[str]:
    """Each data-driven net against the mean of its seed's distinct even
    nets trained on its kind of machine within :data:`NEARBY_MACS` of its
    MACs (an average over several draws of the even net, not one)."""
    table = runs_by_kind(results)
    evens = distinct_even_nets(results)
    seeds = sorted({s for runs in table.values() for s in runs})
    lines = difference_header(seeds)
    for kind in SEED_OF:
        if kind not in table:
            continue
        diffs, cells, ratios = [], [], []
        for seed in seeds:
            record = table[kind].get(seed)
            near = [] if record is None else [
                e for e in evens.get(seed, [])
                if machine_kind(e) == machine_kind(record)
                and abs(e['macs'] / record['macs'] - 1) <= NEARBY_MACS
            ]
            if not near:
                cells.append('-')
                continue
            diffs.append(record['top1'] -
                         statistics.fmean(e['top1'] for e in near))
            ratios.append(record['macs'] /
                          statistics.fmean(e['macs'] for e in near))
            cells.append(f'{diffs[-1]:+.2f} ({len(near)})')
        if not diffs:
            continue
        lines.append(
            difference_row(f'{ALL_KINDS[kind]} - its even nets',
                           ' | '.join(cells), diffs,
                           statistics.fmean(ratios)))
    if len(lines) == 2:
        return []
    return lines + [
        '', f'(k): the mean over k distinct even nets of the seed, trained on '
        f'the same kind of machine, whose MACs are within '
        f'{NEARBY_MACS:.0%} of the data-driven net\'s.'
    ]
