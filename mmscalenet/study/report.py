# Copyright (c) mmscalenet contributors. All rights reserved.
"""Tables of an allocation study, computed from its results file alone.

Every number the documentation gives about a study comes out of :func:`report`
(``tools/allocation_study.py CONFIG --report``): per-model top-1 over seeds
and the paired per-seed differences the study is about (here), the seed
nets' allocations, gammas and readiness (:mod:`.seed_tables`) and the even
nets' spread (:mod:`.even_tables`); :func:`update_markdown` writes them
between a page's markers (``--update-doc``).
"""
import statistics
from typing import List, Sequence, Tuple

from ..fileio import write_atomically
from .even_tables import (NEARBY_HEADING, even_noise_line, even_spread_table,
                          nearby_even_table)
from .protocol import ALL_KINDS, SECOND_ROUND_KINDS
from .seed_tables import (allocation_table, gamma_table, readiness_table,
                          selection_lines)
from .tables import (INTERVAL_NOTE, MACHINE_NOTE, difference_header,
                     difference_row, mean_pm, runs_by_kind, same_machine)

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
        macs = mean_pm([r['macs'] / 1e6 for r in runs.values()])
        params = mean_pm([r['params'] / 1e6 for r in runs.values()], 3)
        minutes = statistics.fmean(r['minutes'] for r in runs.values())
        lines.append(f'| {name} | {mean_pm(top1)} (n={len(top1)}) | {per_seed}'
                     f' | {macs} | {params} | {minutes:.1f} |')
    return lines


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
