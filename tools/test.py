# Copyright (c) mmscalenet contributors. All rights reserved.
"""Evaluate a checkpoint with an MMDetection, MMPretrain or MMSegmentation
config.

Reports what the config's ``test_evaluator`` computes: COCO bbox mAP for
detection configs (mmdet's ``CocoMetric``), top-1/top-5 for classification
configs (mmpretrain's ``Accuracy``), mIoU for segmentation configs (mmseg's
``IoUMetric``).

Example:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out r.pkl]
    python tools/test.py CONFIG CHECKPOINT --show-dir vis  # drawn images
"""
import argparse

from mmengine.runner import Runner

import mmscalenet  # noqa: F401  (registers ScaleNet; lets checkpoints load)
from mmscalenet.apis import (add_cfg_options, add_launcher_args,
                             check_checkpoint_files, check_data_roots,
                             exit_on_bad_input,
                             finish_distributed, init_cpu_distributed,
                             load_config, prepare_test_cfg)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions for offline evaluation: a .pkl file '
        '(detection, classification), a folder of label-map PNGs '
        '(segmentation, as mmseg\'s tool)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved: for detection '
        'and segmentation configs under work_dir/timestamp/ (as mmdet\'s '
        'and mmseg\'s tools), for classification configs where given (as '
        'mmpretrain\'s tool)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--interval',
        type=int,
        help='draw every interval-th test iteration (classification '
        'configs: default 1; segmentation configs: default the config\'s '
        'SegVisualizationHook interval, 50 in mmseg)')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    with exit_on_bad_input():
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher, args.local_rank)
        prepare_test_cfg(
            cfg,
            args.checkpoint,
            out=args.out,
            show=args.show,
            show_dir=args.show_dir,
            wait_time=args.wait_time,
            interval=args.interval)
        check_data_roots(cfg, ['test_dataloader'])
        check_checkpoint_files(cfg, 'checkpoint')
    init_cpu_distributed(cfg, args.launcher)
    with exit_on_bad_input():
        # Builds the model: a backbone setting it cannot honour is refused.
        runner = Runner.from_cfg(cfg)
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
