# Copyright (c) mmscalenet contributors. All rights reserved.
"""Train a model from an MMDetection, MMPretrain or MMSegmentation config.

The same arguments as ``mmdet/tools/train.py`` and
``mmpretrain/tools/train.py``; which library's conventions apply is read
from the config's ``default_scope``.

Example:
    python tools/train.py configs/faster_rcnn_scalenet101_coco.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --resume
"""
import argparse
import sys

from mmengine.runner import Runner

import mmscalenet  # noqa: F401  (registers ScaleNet; lets --resume load)
from mmscalenet.errors import ConfigError, NonFiniteLossError
from mmscalenet.apis import (add_cfg_options, add_launcher_args,
                             check_checkpoint_files, check_data_roots,
                             exit_on_bad_input,
                             finish_distributed, init_cpu_distributed,
                             load_config, prepare_train_cfg)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    with exit_on_bad_input():
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher, args.local_rank)
        prepare_train_cfg(
            cfg,
            amp=args.amp,
            auto_scale_lr=args.auto_scale_lr,
            resume=args.resume,
            no_validate=args.no_validate)
        check_data_roots(cfg, ['train_dataloader'] +
                         ([] if args.no_validate else ['val_dataloader']))
        check_checkpoint_files(cfg)
    init_cpu_distributed(cfg, args.launcher)
    with exit_on_bad_input():
        # Builds the model: a backbone setting it cannot honour is refused.
        runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except (ConfigError, NonFiniteLossError) as e:  # a hook, the weights,
        sys.exit(f'error: {e}')  # a nan loss: one line, on every rank
    finish_distributed()


if __name__ == '__main__':
    main()
