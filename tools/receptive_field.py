# Copyright (c) mmscalenet contributors. All rights reserved.
"""Theoretical receptive field range of every block (paper Figure 6).

For each config's backbone, prints per residual block the smallest and the
largest receptive field (input pixels) over its main-branch paths, and plots
them. ScaleNet's SA blocks widen the range at every block; a ResNet's range
is a single value.

Example:
    python tools/receptive_field.py configs/_base_/models/scalenet50.py \
        configs/_base_/models/resnet50.py --out rf.png
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmscalenet  # noqa: F401
from mmscalenet.figures import pyplot, save_figure
from mmscalenet.analysis import receptive_field_ranges
from mmscalenet.apis import config_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULTS = [
    osp.join(REPO, 'configs', '_base_', 'models', f'{name}.py')
    for name in ('scalenet50', 'resnet50')
]


def backbone_ranges(config: str):
    cfg = Config.fromfile(config)
    init_default_scope(config_scope(cfg))
    return receptive_field_ranges(MODELS.build(cfg.model.backbone))


def plot(results: dict, path: str) -> None:
    fig, ax = pyplot().subplots(figsize=(7, 3.5))
    for name, ranges in results.items():
        blocks = range(1, len(ranges) + 1)
        line, = ax.plot(blocks, [hi for _, hi in ranges], label=f'{name} max')
        ax.plot(blocks, [lo for lo, _ in ranges], '--', color=line.get_color(),
                label=f'{name} min')
    ax.set_xlabel('residual block')
    ax.set_ylabel('receptive field (pixels)')
    ax.set_yscale('log')
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'configs', nargs='*', default=DEFAULTS,
        help='configs whose backbones to compare (default: ScaleNet-50 and '
        'ResNet-50)')
    parser.add_argument('--out', help='write the plot here (PNG, PDF...)')
    args = parser.parse_args()
    results = {
        osp.splitext(osp.basename(c))[0]: backbone_ranges(c)
        for c in args.configs
    }
    names = list(results)
    print(f'{"block":>5}' + ''.join(f'{n:>24}' for n in names))
    for k in range(max(len(r) for r in results.values())):
        cells = []
        for n in names:
            r = results[n]
            cells.append(f'{r[k][0]:>11} - {r[k][1]:<10}' if k < len(r) else
                         ' ' * 24)
        print(f'{k + 1:>5}' + ''.join(cells))
    if args.out:
        plot(results, args.out)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
