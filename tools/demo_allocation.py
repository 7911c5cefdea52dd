# Copyright (c) mmscalenet contributors. All rights reserved.
"""The paper's pipeline end to end on real data (``make demo``).

On scikit-learn's handwritten digits (1,797 real 8x8 images, shipped with
scikit-learn; 1,437 train / 360 test, resized to 16x16), with a CIFAR-style
ScaleNet-38 (L = 3):

1. train the seed net (16/32/64 channels at every scale); its
   ``NeuronAllocationHook`` ranks the SA neurons by BN |gamma| and writes the
   allocated spec, the retrain config and the allocation plot;
2. retrain the allocated net from scratch with that config;
3. train, with the same schedule, the even allocation at the same budget and
   the bottleneck ResNet-38 baseline;
4. evaluate all four and print top-1, MACs and parameters.

The same pipeline runs on CIFAR-100 or ImageNet by pointing the seed config
at that data (see the README, "Neuron allocation").

Example:
    python tools/demo_allocation.py --work-dir work_dirs/demo
"""
import argparse
import json
import os.path as osp
import time

import torch
from get_flops import TensorForward
from mmengine.config import Config
from mmengine.runner import Runner

import mmscalenet  # noqa: F401
from mmscalenet.analysis import measure_complexity
from mmscalenet.engine import NeuronAllocationHook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument(
        '--epochs', type=int, default=None,
        help='epochs of every run (default: the configs\', 12)')
    parser.add_argument(
        '--budget-ratio', type=float, default=1.0,
        help='allocation budget as a fraction of the ResNet 3x3 FLOPs')
    parser.add_argument(
        '--train-subset', type=int, default=None,
        help='train on the first N training images only (smoke runs)')
    return parser.parse_args()


def adjust(cfg: Config, work_dir: str, args) -> Config:
    cfg.work_dir = work_dir
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
        cfg.param_scheduler.T_max = args.epochs
        cfg.param_scheduler.end = args.epochs
        cfg.default_hooks.checkpoint.interval = args.epochs
    if args.train_subset is not None:
        cfg.train_dataloader.dataset.indices = args.train_subset
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == 'NeuronAllocationHook':
            hook['budget_ratio'] = args.budget_ratio
    return cfg


def train_and_evaluate(name: str, cfg: Config) -> dict:
    print(f'\n==== {name}: training in {cfg.work_dir} ====', flush=True)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    model = runner.model.eval()
    side = cfg.model.backbone.get('reference_size', 16)
    with torch.no_grad():
        complexity = measure_complexity(
            TensorForward(model, 'mmpretrain', (side, side)),
            (torch.rand(1, 3, side, side), ))
    hooks = [h for h in runner.hooks if isinstance(h, NeuronAllocationHook)]
    return dict(
        name=name,
        top1=float(metrics['accuracy/top1']),
        macs=complexity.macs,
        params=complexity.params,
        minutes=(time.time() - start) / 60,
        allocation=hooks[0].paths if hooks else None)


def main():
    args = parse_args()
    work_dir = osp.abspath(args.work_dir)
    results = []

    seed_cfg = adjust(
        Config.fromfile(osp.join(DEMO, 'scalenet38-seed_1xb64_digits.py')),
        osp.join(work_dir, 'seed'), args)
    results.append(train_and_evaluate('ScaleNet-38 seed (L=3)', seed_cfg))
    paths = results[0]['allocation']

    runs = [
        ('ScaleNet-38 data-driven', paths['config']),
        ('ScaleNet-38 even', osp.join(DEMO,
                                      'scalenet38-even_1xb64_digits.py')),
        ('ResNet-38 (bottleneck)', osp.join(DEMO,
                                            'resnet38_1xb64_digits.py')),
    ]
    for (name, config), sub in zip(runs, ('allocated', 'even', 'resnet')):
        cfg = adjust(Config.fromfile(config), osp.join(work_dir, sub), args)
        results.append(train_and_evaluate(name, cfg))

    lines = [
        '', 'Digits (360 test images), same schedule for every net:',
        f'  {"model":<28}{"top-1 (%)":>10}{"MACs (M)":>10}{"params (M)":>12}'
        f'{"minutes":>9}'
    ]
    for r in results:
        lines.append(f'  {r["name"]:<28}{r["top1"]:>10.2f}'
                     f'{r["macs"] / 1e6:>10.2f}{r["params"] / 1e6:>12.3f}'
                     f'{r["minutes"]:>9.1f}')
    lines += [
        f'Allocated spec: {paths["spec"]}',
        f'Allocation plot: {paths["plot"]}',
        f'Retrain config: {paths["config"]}',
    ]
    print('\n'.join(lines))
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
