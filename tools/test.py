# Copyright (c) mmscalenet contributors. All rights reserved.
"""Evaluate a checkpoint with an MMDetection or MMPretrain config.

Reports what the config's ``test_evaluator`` computes: COCO bbox mAP for
detection configs (mmdet's ``CocoMetric``), top-1/top-5 for classification
configs (mmpretrain's ``Accuracy``).

Example:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out r.pkl]
"""
import argparse

from mmengine.runner import Runner

import mmscalenet  # noqa: F401  (registers ScaleNet; lets checkpoints load)
from mmscalenet.apis import (add_cfg_options, add_launcher_args,
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
        help='dump predictions to a pickle file for offline evaluation')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.local_rank)
    prepare_test_cfg(cfg, args.checkpoint, out=args.out)
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
