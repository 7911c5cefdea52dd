# Copyright (c) mmscalenet contributors. All rights reserved.
"""SeedReadinessHook: each argument, and a real Runner per behaviour (the
records, the log and scalars, resuming)."""
import json
import os.path as osp
import tempfile
from unittest import TestCase

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmscalenet import CifarScaleNet
from mmscalenet.allocation.diagnostics import NEAR_ZERO
from mmscalenet.allocation.seed_net import seed_importance
from mmscalenet.engine import SeedReadinessHook
from mmscalenet.engine.hooks.seed_readiness_hook import rank_correlation

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEED_CONFIG = osp.join(REPO, 'configs', 'demo',
                       'scalenet38-seed_1xb64_digits.py')


def seed_cfg(work_dir, epochs, **hook_kwargs):
    """The demo's seed config on 256 images (4 iterations an epoch: the
    gammas move), with the hook."""
    cfg = Config.fromfile(SEED_CONFIG)
    cfg.work_dir = work_dir
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler.T_max = cfg.param_scheduler.end = epochs
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.default_hooks.checkpoint.interval = 1
    cfg.train_dataloader.dataset.indices = 256
    cfg.custom_hooks = [dict(type='SeedReadinessHook', **hook_kwargs)]
    return cfg


class TestSeedReadinessHook(TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_init(self):
        hook = SeedReadinessHook()
        self.assertEqual(hook.budget_ratio, 1.0)
        self.assertEqual(hook.b, 0.0)
        self.assertEqual(hook.file_name, 'seed_readiness.json')
        with self.assertRaisesRegex(ValueError, 'budget_ratio must be '
                                    'positive, got 0'):
            SeedReadinessHook(budget_ratio=0)
        with self.assertRaisesRegex(ValueError, 'file_name must be a plain '
                                    "file name, got 'a/b.json'"):
            SeedReadinessHook(file_name='a/b.json')

    def test_rank_correlation(self):
        self.assertAlmostEqual(rank_correlation([1, 2, 3], [3, 2, 1]), -1.0)
        self.assertAlmostEqual(rank_correlation([1, 2, 3], [10, 20, 30]),
                               1.0)
        self.assertIsNone(rank_correlation([1, 1, 1], [1, 2, 3]))

    def test_records_every_epoch(self):
        runner = Runner.from_cfg(seed_cfg(self.tmp.name, 2, budget_ratio=0.7))
        runner.train()
        with open(osp.join(self.tmp.name, 'seed_readiness.json')) as f:
            history = json.load(f)
        self.assertEqual([r['epoch'] for r in history], [1, 2])
        first, second = history
        # Epoch 1 compares with the initial gammas (all 1: no ranking).
        self.assertIsNone(first['rank_correlation'])
        # The records are the saved weights' of each epoch: every block's
        # |gamma| ranking against the last epoch's (mean of the blocks),
        # and per stage and scale the mean and the share below 1% of the
        # largest |gamma| (none here, after two epochs), recomputed from
        # the checkpoints.
        importance = [self.checkpoint_importance(e) for e in (1, 2)]
        flat = [[[v for scale in block for v in scale] for block in epoch]
                for epoch in importance]
        correlations = [
            rank_correlation(now, before)
            for now, before in zip(flat[1], flat[0])
        ]
        self.assertAlmostEqual(second['rank_correlation'],
                               sum(correlations) / len(correlations))
        for record, epoch in zip(history, importance):
            largest = max(v for block in epoch for s in block for v in s)
            self.assertEqual(len(record['stages']), 9)  # 3 stages x 3 scales
            for row in record['stages']:
                values = [
                    v for block in epoch[4 * (row['stage'] - 1):
                                         4 * row['stage']]
                    for v in block[row['scale'] - 1]
                ]
                self.assertAlmostEqual(row['mean'],
                                       sum(values) / len(values))
                self.assertEqual(
                    row['near_zero_share'],
                    sum(v < NEAR_ZERO * largest for v in values) /
                    len(values))
            self.assertEqual(len(record['allocation']), 12)
            # Two epochs on 512 images: still tied, and it says so.
            self.assertIn('train the seed longer', record['warning'])
        # The budget ratio reaches the would-be allocation.
        hook = runner.hooks[[type(h) for h in runner.hooks].index(
            SeedReadinessHook)]
        self.assertEqual(hook.history, history)
        log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
        self.assertIn('seed readiness, epoch 2: ranking rank correlation',
                      log)
        scalars = [
            json.loads(line) for line in open(
                osp.join(runner.log_dir, 'vis_data', 'scalars.json'))
        ]
        self.assertTrue(
            any('readiness/moved_from_even' in s for s in scalars))

    def checkpoint_importance(self, epoch):
        """Per block, per scale, the |gamma|s of epoch ``epoch``'s
        checkpoint."""
        state = torch.load(
            osp.join(self.tmp.name, f'epoch_{epoch}.pth'),
            weights_only=False)['state_dict']
        kwargs = dict(Config.fromfile(SEED_CONFIG).model.backbone)
        kwargs.pop('type')
        backbone = CifarScaleNet(**kwargs)
        backbone.load_state_dict({
            k[len('backbone.'):]: v
            for k, v in state.items() if k.startswith('backbone.')
        })
        return seed_importance(backbone)

    @pytest.mark.slow
    def test_resume_keeps_the_earlier_epochs(self):
        Runner.from_cfg(seed_cfg(self.tmp.name, 1)).train()
        cfg = seed_cfg(self.tmp.name, 2)
        cfg.resume = True
        runner = Runner.from_cfg(cfg)
        runner.train()
        with open(osp.join(self.tmp.name, 'seed_readiness.json')) as f:
            history = json.load(f)
        self.assertEqual([r['epoch'] for r in history], [1, 2])
        # After the resume the previous ranking is the checkpoint's.
        self.assertIsNotNone(history[1]['rank_correlation'])
