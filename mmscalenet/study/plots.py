# Copyright (c) mmscalenet contributors. All rights reserved.
"""Figures of an allocation study, drawn from its results file alone."""
import os
import os.path as osp
import statistics
from typing import Dict, List

from ..figures import pyplot, save_figure
from .protocol import ALL_KINDS
from ..allocation.diagnostics import proportions
from .seed_tables import stage_of_blocks
from .tables import SEED_KINDS, runs_by_kind


#: Marker of each family of runs in the top-1 against MACs figure.
FAMILY_MARKERS = (('seed', 's'), ('allocated', 'o'), ('even', '^'),
                  ('resnet', 'D'))


def plot_top1_vs_macs(results: dict, path: str) -> None:
    """Top-1 against MACs, each seed a point, each model a colour and each
    family (seed, data-driven, even, ResNet) a marker (the paper's Figure 2
    style), the legend beside the axes."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    colours = plt.get_cmap('tab20').colors
    kinds = list(ALL_KINDS)  # one colour per kind, whatever the file holds
    for kind, runs in runs_by_kind(results).items():
        macs = [r['macs'] / 1e6 for r in runs.values()]
        top1 = [r['top1'] for r in runs.values()]
        marker = next(m for family, m in FAMILY_MARKERS
                      if kind.startswith(family))
        colour = colours[kinds.index(kind) % len(colours)]
        ax.scatter(macs, top1, label=ALL_KINDS[kind], s=26, alpha=0.85,
                   marker=marker, color=colour)
    ax.set_xlabel('MACs (M), at the study\'s input size')
    ax.set_ylabel('top-1 on the test set (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    save_figure(fig, path)


def _seed_net_panels(results: dict):
    """A figure with one panel per seed-net kind that has runs."""
    table = runs_by_kind(results)
    kinds = [k for k in SEED_KINDS if table.get(k)]
    fig, axes = pyplot().subplots(
        1, len(kinds), figsize=(5.5 * len(kinds), 3.6), squeeze=False)
    return fig, table, zip(axes[0], kinds)


def plot_mean_proportions(results: dict, path: str) -> None:
    """Per block, each scale's share of the kept neurons, averaged over
    seeds, for the plain and the penalised seed nets (Figure 5 style)."""
    fig, table, panels = _seed_net_panels(results)
    for ax, kind in panels:
        per_seed = [proportions(r['allocation'])
                    for r in table[kind].values()]
        mean = [[statistics.fmean(v) * 100 for v in zip(*blocks)]
                for blocks in zip(*per_seed)]
        blocks = list(range(1, len(mean) + 1))
        bottom = [0.0] * len(mean)
        for scale in range(len(mean[0])):
            share = [m[scale] for m in mean]
            ax.bar(blocks, share, bottom=bottom, label=f'scale {scale + 1}')
            bottom = [b + s for b, s in zip(bottom, share)]
        ax.set_title(f'{ALL_KINDS[kind]} (n={len(per_seed)})', fontsize=9)
        ax.set_xlabel('SA block')
        ax.set_ylabel('neuron proportion (%)')
        ax.set_ylim(0, 100)
        ax.set_xticks(blocks)
        ax.legend(fontsize=7, loc='lower left')
    save_figure(fig, path)


def plot_gamma_distributions(results: dict, path: str) -> None:
    """Box plots of the seed nets' |gamma| per stage and scale (pooled over
    seeds): do they carry information, or stay near their initial 1?"""
    fig, table, panels = _seed_net_panels(results)
    for ax, kind in panels:
        pooled: Dict[tuple, List[float]] = {}
        for record in table[kind].values():
            stages = stage_of_blocks(record['allocation'])
            for stage, block in zip(stages, record['gammas']):
                for scale, values in enumerate(block):
                    pooled.setdefault((stage, scale), []).extend(values)
        keys = sorted(pooled)
        ax.boxplot([pooled[k] for k in keys], showfliers=True,
                   flierprops=dict(markersize=2))
        ax.set_xticks(
            range(1, len(keys) + 1),
            [f'st{s + 1}\nsc{c + 1}' for s, c in keys],
            fontsize=7)
        ax.set_ylabel('|gamma|')
        ax.set_title(ALL_KINDS[kind], fontsize=9)
        ax.grid(alpha=0.3, axis='y')
    save_figure(fig, path)


def plot_readiness(results: dict, path: str) -> None:
    """The long seeds' |gamma| spread, ranking stability and distance from
    even after every epoch (SeedReadinessHook), one line per seed."""
    records = {s: r for s, r in runs_by_kind(results)['seed-long'].items()
               if r.get('readiness')}
    fig, axes = pyplot().subplots(1, 3, figsize=(13, 3.4))
    panels = (('gamma_spread', '|gamma| spread (std / mean per block)'),
              ('rank_correlation', 'rank correlation with previous epoch'),
              ('moved_from_even', 'channels moved vs even'))
    for ax, (key, label) in zip(axes, panels):
        for seed, record in sorted(records.items()):
            points = [(e['epoch'], e[key]) for e in record['readiness']
                      if e[key] is not None]
            ax.plot(*zip(*points), marker='o', markersize=3,
                    label=f'seed {seed}')
        ax.set_xlabel('seed epoch')
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


def plot_study(results: dict, out_dir: str, name: str) -> Dict[str, str]:
    """Every figure the results allow, as ``out_dir/<name>_<figure>.png``."""
    table = runs_by_kind(results)
    figures = {'top1-vs-macs': plot_top1_vs_macs}
    if any(table.get(kind) for kind in SEED_KINDS):
        figures['proportions'] = plot_mean_proportions
        figures['gammas'] = plot_gamma_distributions
    if any(r.get('readiness') for r in table.get('seed-long', {}).values()):
        figures['readiness'] = plot_readiness
    paths = {}
    os.makedirs(out_dir, exist_ok=True)
    for figure, draw in figures.items():
        paths[figure] = osp.join(out_dir, f'{name}_{figure}.png')
        draw(results, paths[figure])
    return paths
