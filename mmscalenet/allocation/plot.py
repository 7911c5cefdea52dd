# Copyright (c) mmscalenet contributors. All rights reserved.
"""Neuron proportion per scale in each SA block (the paper's Figs. 1, 5)."""
from typing import Optional

from ..figures import pyplot, save_figure
from ..models.channel_spec import ChannelSpec


def plot_allocation(spec: ChannelSpec,
                    path: str,
                    title: Optional[str] = None) -> None:
    """Per-block stacked bars of the share of each scale, written to
    ``path`` (PNG, PDF, ... by extension) atomically."""
    plt = pyplot()
    blocks = range(1, len(spec) + 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(spec) + 2), 3.5))
    bottom = [0.0] * len(spec)
    for i in range(spec.num_scales):
        share = [c[i] / sum(c) * 100 for c in spec.channels]
        ax.bar(blocks, share, bottom=bottom, label=f'scale {i + 1}',
               width=0.8)
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_xlabel('SA block')
    ax.set_ylabel('neuron proportion (%)')
    ax.set_ylim(0, 100)
    ax.set_xlim(0.4, len(spec) + 0.6)
    if len(spec) <= 20:
        ax.set_xticks(list(blocks))
    ax.legend(loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if title:
        ax.set_title(title)
    save_figure(fig, path)
