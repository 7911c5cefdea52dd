# Copyright (c) mmscalenet contributors. All rights reserved.
"""Writing matplotlib figures: the allocation plots, the study's figures and
the receptive-field tool share these (matplotlib is imported only here and
only when a figure is drawn)."""
from .fileio import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str) -> None:
    """Save a matplotlib figure to ``path`` (PNG, PDF, ... by extension)
    atomically and close it.

    Example:
        >>> fig, ax = pyplot().subplots()
        >>> save_figure(fig, 'figure.png')  # doctest: +SKIP
    """
    plt = pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
