# Copyright (c) mmscalenet contributors. All rights reserved.
"""Multiply-accumulates and parameters of a config's model.

Counts (one multiply-accumulate = one operation, mmengine's convention):
convolutions and fully connected layers (the "MACs" papers call FLOPs, and
the README's tables), plus, listed apart, norms, pooling (max and average:
one operation per window element per output element, the SA block's pooling
included) and upsampling (nearest: 1, bilinear: 4 per output element).
Element-wise additions, ReLUs and concatenations are not counted.

Example:
    python tools/get_flops.py configs/_base_/models/scalenet50.py
    python tools/get_flops.py CONFIG --shape 800 1216
"""
import argparse

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmscalenet  # noqa: F401
from mmscalenet.analysis import COUNTED_OPS, config_model_complexity
from mmscalenet.apis import add_cfg_options, config_scope


def parse_args():
    parser = argparse.ArgumentParser(description='Get a model\'s MACs')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=None,
        help='input image size: H W, or one value for both (default: the '
        'backbone\'s reference size (224 ImageNet, 32 CIFAR) for '
        'classification, 800 1216 for detection)')
    add_cfg_options(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    scope = config_scope(cfg)
    init_default_scope(scope)
    model = MODELS.build(cfg.model).eval()
    if args.shape is None and scope == 'mmdet':
        shape = (800, 1216)
    elif args.shape is None:
        side = getattr(model.backbone, 'reference_size', 224)
        shape = (side, side)
    elif len(args.shape) in (1, 2):
        shape = tuple(args.shape) * (3 - len(args.shape))
    else:
        raise ValueError(f'--shape takes H W or one size, got {args.shape}')
    result = config_model_complexity(model, scope, shape)
    in_channels = next(m for m in model.modules()
                       if isinstance(m, nn.Conv2d)).in_channels
    print(f'Input shape: (1, {in_channels}, {shape[0]}, {shape[1]})')
    small = f' ({result.macs / 1e6:.1f} M)' if result.macs < 1e9 else ''
    print(f'MACs (conv + fc): {result.macs / 1e9:.3f} G{small}')
    print(f'Params: {result.params / 1e6:.2f} M')
    print('Operations by group (G):')
    for group in COUNTED_OPS:
        print(f'  {group:<9}{result.by_group.get(group, 0) / 1e9:10.4f}')
    if result.by_group.get('other'):
        print(f'  {"other":<9}{result.by_group["other"] / 1e9:10.4f}')
    print(f'All counted: {result.total / 1e9:.3f} G')
    if result.uncounted_ops:
        print('Not counted: ' + ', '.join(result.uncounted_ops))


if __name__ == '__main__':
    main()
