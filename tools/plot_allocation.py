# Copyright (c) mmscalenet contributors. All rights reserved.
"""Plot the neuron proportion per scale of every SA block of a spec.

Per-block stacked bars, like the paper's Figures 1 and 5. Works on the
authors' structure files (``mmscalenet/structures/*.json`` or a shipped name)
and on the specs the allocation writes.

Example:
    python tools/plot_allocation.py scalenet50 --out scalenet50.png
"""
import argparse
import os.path as osp
import sys

from mmscalenet.allocation.plot import plot_allocation
from mmscalenet.models import ChannelSpec


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('spec', help='a JSON spec or a shipped structure')
    parser.add_argument('--out', required=True, help='the figure (PNG...)')
    parser.add_argument('--title', default=None)
    args = parser.parse_args()
    try:
        spec = ChannelSpec.load(args.spec)
    except (ValueError, TypeError, FileNotFoundError) as e:
        sys.exit(f'plot_allocation: {e}')
    plot_allocation(
        spec, args.out, title=args.title or osp.basename(args.spec))
    print(f'wrote {args.out} ({len(spec)} blocks, {spec.num_scales} scales)')


if __name__ == '__main__':
    main()
