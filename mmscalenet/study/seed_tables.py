# Copyright (c) mmscalenet contributors. All rights reserved.
"""The tables of the seed nets: how far each allocation moved from even
and how many kept neurons were tied or near zero, per stage; the gamma
statistics; the long seed's readiness epoch by epoch; the L1 strength's
selection."""
import statistics
from typing import Dict, List, Sequence, Tuple

from ..allocation.diagnostics import (NEAR_ZERO, diagnose_allocation,
                                      proportions)
from .protocol import ALL_KINDS
from .tables import SEED_KINDS, runs_by_kind


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
