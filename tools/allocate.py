# Copyright (c) mmscalenet contributors. All rights reserved.
"""Neuron allocation from a saved seed checkpoint (offline).

The same computation and the same files as ``NeuronAllocationHook``: the
allocated spec (JSON with metadata), a config to retrain it from scratch
(CONFIG with the spec in place of the seed spec) and the allocation plot.
``--even`` writes the even allocation at the same budget instead (no
checkpoint is read).

Example:
    python tools/allocate.py configs/demo/scalenet38-seed_1xb64_digits.py \
        work_dirs/seed/epoch_12.pth --out work_dirs/allocation
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmscalenet  # noqa: F401
from mmscalenet.allocation import (AllocationError, allocate_from_model,
                                   diagnose_model_allocation,
                                   even_allocation_of_model)
from mmscalenet.allocation.writer import check_out_dir, write_allocation
from mmscalenet.apis import add_cfg_options, config_scope
from mmscalenet.checkpoint_integrity import (CorruptCheckpointError,
                                             check_checkpoint_file)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the seed config')
    parser.add_argument('checkpoint', help='the trained seed checkpoint')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument(
        '--budget-ratio',
        type=float,
        default=1.0,
        help='budget as a fraction of the replaced 3x3 convs\' MACs')
    parser.add_argument(
        '--b', type=float, default=0.0, help='cost exponent of the ranking')
    parser.add_argument(
        '--channel-divisor',
        type=int,
        default=1,
        help='keep every scale\'s channels a multiple of this, within the '
        'same budget (8 suits GPU tensor cores; default 1: the paper)')
    parser.add_argument(
        '--even',
        action='store_true',
        help='write the even allocation at the same budget instead')
    add_cfg_options(parser)
    return parser.parse_args()


def load_seed_weights(model, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model``, refusing one that does not fit."""
    check_checkpoint_file(checkpoint)
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    mismatched = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs config '
        f'{tuple(v.shape)}' for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or mismatched:
        problems = (mismatched + [f'{k}: missing' for k in missing])
        more = f' (+{len(problems) - 5} more)' if len(problems) > 5 else ''
        raise AllocationError(
            f'{checkpoint} does not fit the config\'s seed spec: '
            + '; '.join(problems[:5]) + more)
    model.load_state_dict(state, strict=False)


def main():
    args = parse_args()
    try:
        check_out_dir(args.out)
    except NotADirectoryError as e:
        sys.exit(f'allocate: --out {e}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(config_scope(cfg))
    model = MODELS.build(cfg.model)
    meta = dict(
        seed_config=osp.abspath(args.config),
        source=osp.abspath(args.checkpoint))
    try:
        if args.even:
            spec = even_allocation_of_model(model, args.budget_ratio)
            spec.meta.update(seed_config=meta['seed_config'])
            name = 'even_spec.json'
        else:
            load_seed_weights(model, args.checkpoint)
            result = allocate_from_model(
                model, budget_ratio=args.budget_ratio, b=args.b, meta=meta,
                channel_divisor=args.channel_divisor)
            print(result.report())
            diagnostics = diagnose_model_allocation(model, result)
            print(diagnostics.summary())
            warning = diagnostics.warning()
            if warning:
                print(f'warning: {warning}', file=sys.stderr)
            spec, name = result.spec, 'allocated_spec.json'
    except (AllocationError, CorruptCheckpointError, FileNotFoundError) as e:
        sys.exit(f'allocate: {e}')
    try:
        paths = write_allocation(
            spec, args.out, seed_cfg=cfg, spec_name=name,
            title=f'budget ratio {args.budget_ratio}'
            + ('' if args.even else f', b = {args.b}'))
    except OSError as e:  # a folder above --out is a file, no permission
        sys.exit(f'allocate: cannot write into --out {args.out}: '
                 f'{e.strerror or e}')
    for kind, path in paths.items():
        print(f'{kind}: {path}')


if __name__ == '__main__':
    main()
