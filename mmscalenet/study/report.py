# Copyright (c) mmscalenet contributors. All rights reserved.
"""Tables of an allocation study, computed from its results file alone.

Every number the documentation gives about a study comes out of :func:`report`
(``tools/allocation_study.py CONFIG --report``): per-model top-1 over seeds,
how far each data-driven allocation moved from the even one, how many kept
neurons had a |gamma| at or near zero, the seed nets' gamma statistics, and
the paired per-seed differences the study is about; :func:`update_markdown`
writes them between a page's markers (``--update-doc``).
"""
import statistics
from typing import Dict, List, Sequence, Tuple

from ..allocation.diagnostics import (NEAR_ZERO, diagnose_allocation,
                                      proportions)
from ..fileio import write_atomically
from .stats import mean_interval, mean_std, pooled_std, t_975
from .protocol import ALL_KINDS, SECOND_ROUND_KINDS, SEED_OF
from .records import even_nets_of

#: The paired comparisons: (name, kind a, kind b); each is a - b per seed.
PAIRS = (
    ('data-driven - even at equal MACs (plain seed)', 'allocated-rerun',
     'even-matched'),
    ('data-driven - even at equal MACs (plain seed, first-round net)',
     'allocated', 'even-matched'),
    ('the same net trained again - first round (machine, threads)',
     'allocated-rerun', 'allocated'),
    ('data-driven - even at equal MACs (long seed)', 'allocated-long',
     'even-matched-long'),
    ('data-driven - even at equal MACs (ranked L1 seed)',
     'allocated-l1-ranked', 'even-matched-l1-ranked'),
    ('data-driven - even at equal MACs (L1 seed)', 'allocated-l1',
     'even-matched-l1'),
    ('long seed - plain seed (data-driven nets, the plain one trained '
     'again)', 'allocated-long', 'allocated-rerun'),
    ('long seed - plain seed (seed nets)', 'seed-long', 'seed'),
    ('data-driven - even (plain seed)', 'allocated', 'even'),
    ('data-driven - even (L1 seed)', 'allocated-l1', 'even'),
    ('L1 seed - plain seed (data-driven nets)', 'allocated-l1', 'allocated'),
    ('L1 seed - plain seed (seed nets)', 'seed-l1', 'seed'),
    ('ScaleNet data-driven - ResNet', 'allocated', 'resnet'),
    ('ScaleNet even - ResNet', 'even', 'resnet'),
    ('ScaleNet data-driven - widened ResNet', 'allocated', 'resnet-wide'),
    ('ScaleNet even - widened ResNet', 'even', 'resnet-wide'),
)

#: The comparisons that answer the study's question: the data-driven
#: allocation against an even one of the same whole-network MACs.
EQUAL_MACS_PAIRS = tuple(p for p in PAIRS if ' at equal MACs ' in p[0])

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


def _pm(values: Sequence[float], digits: int = 2) -> str:
    mean, std = mean_std(values)
    return f'{mean:.{digits}f}' + ('' if std is None else
                                   f' +- {std:.{digits}f}')


def model_table(results: dict) -> List[str]:
    """Per model: top-1 mean +- std over seeds, each seed, MACs, params."""
    table = runs_by_kind(results)
    seeds = sorted({s for runs in table.values() for s in runs})
    lines = [
        '| model | top-1 (%) mean +- std | ' +
        ' | '.join(f'seed {s}' for s in seeds) +
        ' | MACs (M) | params (M) | minutes / run |',
        '|---|---|' + '---|' * len(seeds) + '---|---|---|'
    ]
    for kind, name in ALL_KINDS.items():
        runs = table.get(kind)
        if not runs:
            continue
        top1 = [r['top1'] for r in runs.values()]
        per_seed = ' | '.join(
            f'{runs[s]["top1"]:.2f}' if s in runs else '-' for s in seeds)
        macs = _pm([r['macs'] / 1e6 for r in runs.values()])
        params = _pm([r['params'] / 1e6 for r in runs.values()], 3)
        minutes = statistics.fmean(r['minutes'] for r in runs.values())
        lines.append(f'| {name} | {_pm(top1)} (n={len(top1)}) | {per_seed}'
                     f' | {macs} | {params} | {minutes:.1f} |')
    return lines


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
    return (f'| {name} | {cells} | {_pm(diffs)} (n={len(diffs)}) | ' +
            ('-' if interval is None else
             f'{interval[0]:+.2f} to {interval[1]:+.2f}') +
            f' | {macs_ratio:.3f} |')


def paired_table(results: dict,
                 pairs: Sequence[Tuple[str, str, str]] = PAIRS) -> List[str]:
    """Per comparison of ``pairs`` (name, kind a, kind b): the top-1
    difference a - b of each seed and the mean."""
    table = runs_by_kind(results)
    seeds = sorted({s for runs in table.values() for s in runs})
    lines = difference_header(seeds)
    for name, a, b in pairs:
        if a not in table or b not in table:
            continue
        both = [s for s in seeds if s in table[a] and s in table[b]]
        if not both:
            continue
        diffs = {s: table[a][s]['top1'] - table[b][s]['top1'] for s in both}
        cells = ' | '.join(
            f'{diffs[s]:+.2f}' + ('' if same_machine(table[a][s], table[b][s])
                                  else ' (m)') if s in diffs else '-'
            for s in seeds)
        ratio = statistics.fmean(table[a][s]['macs'] / table[b][s]['macs']
                                 for s in both)
        lines.append(
            difference_row(name, cells, list(diffs.values()), ratio))
    return lines


def paired_section(results: dict,
                   pairs: Sequence[Tuple[str, str, str]] = PAIRS
                   ) -> List[str]:
    """The paired table of ``pairs`` with the notes that read it: what the
    interval says and, where a pair crosses machines, what ``(m)`` means."""
    table = paired_table(results, pairs)
    notes = ['', INTERVAL_NOTE]
    if any('(m)' in line for line in table):
        notes += ['', MACHINE_NOTE]
    return table + notes


def equal_macs_summary(results: dict) -> str:
    """The study's answer, as markdown: data-driven minus even at equal
    MACs, per seed net the allocation came from, then minus the mean of
    the seed's even nets near its MACs, and how far one seed's even nets
    are apart (the README's tables).

    Example:
        >>> from mmscalenet.study.report import equal_macs_summary
        >>> results = dict(runs={
        ...     f'seed{s}/{kind}': dict(kind=kind, seed=s, top1=top1, macs=1)
        ...     for s in (0, 1)
        ...     for kind, top1 in (('allocated-long', 90.0 + s),
        ...                        ('even-matched-long', 89.5))})
        >>> row = equal_macs_summary(results).splitlines()[2]
        >>> row.split(' | ')[1:4]  # seed 0, seed 1, mean +- std
        ['+0.50', '+1.50', '1.00 +- 0.71 (n=2)']
    """
    nearby = nearby_even_table(results)
    lines = paired_section(results, EQUAL_MACS_PAIRS)
    if nearby:
        lines += ['', NEARBY_HEADING + ':', '', *nearby]
    noise = even_noise_line(results)
    if noise:
        lines += ['', *noise]
    return '\n'.join(lines) + '\n'


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
        >>> from mmscalenet.study.report import even_noise_line
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


def diagnostics_of(record: dict, even_rows):
    """:func:`diagnose_allocation` of a seed net's record."""
    return diagnose_allocation(record['gammas'], record['kept'],
                               record['allocation'], even_rows)


def stage_of_blocks(rows: Sequence[Sequence[int]]) -> List[int]:
    """Stage index of every block (a stage = a run of equal sides)."""
    stages, stage = [], 0
    for k, row in enumerate(rows):
        if k and row[-1] != rows[k - 1][-1]:
            stage += 1
        stages.append(stage)
    return stages


def allocation_table(results: dict) -> List[str]:
    """Per seed net: distance from even, near-zero kept neurons and the mean
    proportion of each scale per stage."""
    table = runs_by_kind(results)
    even = next(iter(table.get('even', {}).values()), None)
    lines = [
        '| seed net | seed | channels moved vs even | kept with '
        '|gamma| ~ 0 | kept tied with the cut | scale shares per stage '
        '(finest..coarsest) |',
        '|---|---|---|---|---|---|'
    ]
    for kind in SEED_KINDS:
        for seed, record in sorted(table.get(kind, {}).items()):
            rows = record['allocation']
            if even:
                d = diagnostics_of(record, even['spec']['rows'])
                moved, tied = f'{d.moved_from_even:.1%}', (
                    f'{d.tied} ({d.tied_share:.0%})')
                near = f'{d.near_zero} of {d.kept}'
            else:
                moved = tied = near = '-'
            stages = stage_of_blocks(rows)
            shares = []
            for stage in sorted(set(stages)):
                blocks = [p for p, s in zip(proportions(rows), stages)
                          if s == stage]
                mean = [statistics.fmean(col) for col in zip(*blocks)]
                shares.append('/'.join(f'{m:.2f}' for m in mean))
            lines.append(f'| {ALL_KINDS[kind]} | {seed} | {moved} | '
                         f'{near} | {tied} | {"; ".join(shares)} |')
    return lines


def gamma_table(results: dict) -> List[str]:
    """|gamma| per stage and scale of the seed nets, over seeds: mean, std
    and the share below NEAR_ZERO x the net's largest."""
    table = runs_by_kind(results)
    lines = [
        '| seed net | stage | scale | mean |gamma| | std | share ~ 0 |',
        '|---|---|---|---|---|---|'
    ]
    for kind in SEED_KINDS:
        records = list(table.get(kind, {}).values())
        if not records:
            continue
        pooled: Dict[Tuple[int, int], List[float]] = {}
        near: Dict[Tuple[int, int], List[bool]] = {}
        for record in records:
            largest = max(v for b in record['gammas'] for s in b for v in s)
            stages = stage_of_blocks(record['allocation'])
            for stage, block in zip(stages, record['gammas']):
                for scale, values in enumerate(block):
                    pooled.setdefault((stage, scale), []).extend(values)
                    near.setdefault((stage, scale), []).extend(
                        v < NEAR_ZERO * largest for v in values)
        for (stage, scale), values in sorted(pooled.items()):
            flags = near[(stage, scale)]
            lines.append(
                f'| {ALL_KINDS[kind]} | {stage + 1} | {scale + 1} | '
                f'{statistics.fmean(values):.4f} | '
                f'{statistics.pstdev(values):.4f} | '
                f'{sum(flags) / len(flags):.1%} |')
    return lines


def readiness_table(results: dict) -> List[str]:
    """The long seeds' ranking after every epoch (SeedReadinessHook), mean
    over seeds."""
    records = [r for r in runs_by_kind(results).get('seed-long', {}).values()
               if r.get('readiness')]
    if not records:
        return []
    lines = [
        '| epoch | rank correlation with the previous epoch | |gamma| '
        'spread (std / mean per block) | moved vs even | kept tied with '
        'the cut | kept with |gamma| ~ 0 | seeds |',
        '|---|---|---|---|---|---|---|'
    ]
    epochs = sorted({e['epoch'] for r in records for e in r['readiness']})
    for epoch in epochs:
        rows = [e for r in records for e in r['readiness']
                if e['epoch'] == epoch]
        corr = [e['rank_correlation'] for e in rows
                if e['rank_correlation'] is not None]
        cells = [
            f'{statistics.fmean(corr):.3f}' if corr else '-',
            f'{statistics.fmean(e["gamma_spread"] for e in rows):.4f}',
            f'{statistics.fmean(e["moved_from_even"] for e in rows):.1%}',
            f'{statistics.fmean(e["tied_share"] for e in rows):.0%}',
            f'{statistics.fmean(e["near_zero_share"] for e in rows):.0%}'
        ]
        lines.append(f'| {epoch} | ' + ' | '.join(cells)
                     + f' | {len(rows)} |')
    return lines


def selection_lines(results: dict) -> List[str]:
    lines = []
    selection = results.get('selection')
    if selection:
        cells = ', '.join(f'lambda_l1 {lam}: {top1:.2f}%'
                          for lam, top1 in selection['holdout_top1'].items())
        lines += [
            f'Held-out top-1 of the seed net by L1 strength: {cells}.',
            f'Chosen: lambda_l1 = {selection["chosen"]:g} '
            f'(rule: {selection["rule"]}).'
        ]
    ranked = results.get('selection_ranked')
    if ranked:
        lines += [
            '', '### Second round: the ranked L1 strength (first seed, '
            'selection split)', *ranked_selection_table(results), '',
            f'Chosen: lambda_l1 = {ranked["chosen"]:g} '
            f'(rule: {ranked["rule"]}).'
        ]
    return lines


def ranked_selection_table(results: dict) -> List[str]:
    """Per L1 strength of the ranked selection: what its seed's allocation
    kept (near 0, tied with the cut), how far it moved from even, and the
    seed's held-out top-1."""
    selection_runs = {
        f'{r["lambda_l1"]:g}': r
        for r in results['runs'].values()
        if r.get('evaluated_on') and r['kind'] == 'seed-l1-ranked'
    }
    lines = [
        '| lambda_l1 | kept with |gamma| ~ 0 | kept tied with the cut | '
        'channels moved vs even | held-out top-1 |', '|---|---|---|---|---|'
    ]
    for lam, share in results['selection_ranked']['near_zero_share'].items():
        record = selection_runs[lam]
        lines.append(f'| {lam} | {share:.0%} | {record["tied_share"]:.0%} | '
                     f'{record["moved_from_even"]:.1%} | '
                     f'{record["top1"]:.2f}% |')
    return lines


def report(results: dict) -> str:
    """All the study's tables, as markdown."""
    protocol = results.get('protocol') or {}
    runs = list(results['runs'].values())
    done = sum(not r.get('evaluated_on') for r in runs)
    planned = len(protocol.get('seeds') or []) * len(
        protocol.get('kinds') or [])
    if protocol.get('second_round'):
        planned += len(protocol['seeds']) * len(SECOND_ROUND_KINDS)
    status = f'{done} of {planned or "?"} runs finished'
    sparsity = protocol.get('sparsity')
    if sparsity:
        selected = len(runs) - done
        planned_selection = len(sparsity['lambdas']) + 1 + len(
            (protocol.get('second_round') or {}).get('lambdas', []))
        status += f', {selected} of {planned_selection} selection runs'
    parts = [
        f'Study {protocol.get("name", "?")}: {status}.', '',
        '### Top-1 on the test set, per model', *model_table(results), '',
        '### Paired differences (same seed: same initialisation seed and '
        'data order)', *paired_section(results), ''
    ]
    spread = even_spread_table(results)
    if spread:
        parts += [
            '### One seed\'s even nets of nearly one width, on one machine',
            *spread, '', f'### {NEARBY_HEADING}',
            *nearby_even_table(results), ''
        ]
    if any(r.get('allocation') for r in results['runs'].values()):
        parts += [
            '### The data-driven allocations', *allocation_table(results),
            '', '### Seed nets: |gamma| per stage and scale',
            *gamma_table(results), ''
        ]
    readiness = readiness_table(results)
    if readiness:
        parts += [
            '### The long seed\'s ranking, epoch by epoch (SeedReadinessHook, '
            'mean over seeds)', *readiness, ''
        ]
    parts += selection_lines(results)
    return '\n'.join(parts).rstrip() + '\n'


#: The sections --update-doc writes: marker name -> what goes between
#: ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.
SECTIONS = {'study-report': report, 'study-answer': equal_macs_summary}


def update_markdown(paths: Sequence[str], results: dict) -> None:
    """Write each section a file of ``paths`` marks (headings one level
    down); every file is checked before any is written, and each is
    replaced atomically.

    Raises:
        ValueError: a file marks no section, or a section's markers are
            not one begin line and one end line after it (nothing is
            written then).

    Example:
        >>> update_markdown(['docs/study.md'], results)  # doctest: +SKIP
    """
    updated = {}
    for path in paths:
        with open(path) as f:
            text = f.read()
        marked = 0
        for name, render in SECTIONS.items():
            begin, end = f'<!-- {name}:begin -->', f'<!-- {name}:end -->'
            counts = text.count(begin), text.count(end)
            if counts == (0, 0):
                continue
            if counts != (1, 1) or text.index(begin) > text.index(end):
                raise ValueError(f'{path} needs one {begin} line and one '
                                 f'{end} line after it, found {counts[0]} '
                                 f'and {counts[1]}')
            head, rest = text.split(begin)
            _, tail = rest.split(end)
            body = render(results).replace('\n### ', '\n#### ').strip()
            text = f'{head}{begin}\n{body}\n{end}{tail}'
            marked += 1
        if not marked:
            raise ValueError(
                f'{path} needs one <!-- study-report:begin --> line and one '
                f'<!-- study-report:end --> line (or the same for '
                f'study-answer) to write the tables between')
        updated[path] = text
    for path, text in updated.items():
        write_atomically(path, text)
