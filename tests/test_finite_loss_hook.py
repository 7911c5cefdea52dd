# Copyright (c) mmscalenet contributors. All rights reserved.
"""FiniteLossHook: its argument, and a real Runner per behaviour (a nan
loss stops the run at its iteration, before any checkpoint of it; without
the hook mmengine trains on; tools/train.py says it in one line)."""
import os.path as osp
import tempfile
from unittest import TestCase

import pytest
from helpers import REPO, run_main
from mmengine.hooks import Hook
from toy_models import toy_runner

from mmscalenet.engine import FiniteLossHook
from mmscalenet.errors import NonFiniteLossError


class PoisonAt(Hook):
    """Sets the classifier's weights to nan before iteration ``at``
    (1-based), so that iteration's loss is nan."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            runner.model.fc.weight.data.fill_(float('nan'))


class TestFiniteLossHook(TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def runner(self, name, hooks):
        return toy_runner(
            osp.join(self.tmp.name, name),
            max_iters=5,
            custom_hooks=hooks,
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, by_epoch=False)))

    def test_init(self):
        self.assertEqual(FiniteLossHook().interval, 1)
        self.assertEqual(FiniteLossHook(interval=10).interval, 10)
        for bad in (0, -1, 1.5, True):
            with self.assertRaisesRegex(ValueError, f'got {bad!r}'):
                FiniteLossHook(interval=bad)

    def test_a_nan_loss_stops_the_run_at_its_iteration(self):
        runner = self.runner('stopped', [PoisonAt(3), FiniteLossHook()])
        with self.assertRaises(NonFiniteLossError) as e:
            runner.train()
        message = str(e.exception)
        self.assertIn('iteration 3', message)
        self.assertIn('loss=nan', message)
        self.assertIn('zero_init_residual', message)  # the advice
        self.assertEqual(runner.iter, 2)  # iteration 3 never completed
        work = osp.join(self.tmp.name, 'stopped')
        self.assertTrue(osp.isfile(osp.join(work, 'iter_2.pth')))
        self.assertFalse(osp.isfile(osp.join(work, 'iter_3.pth')))

    def test_without_it_mmengine_trains_on_through_nan(self):
        runner = self.runner('on', [PoisonAt(3)])
        runner.train()
        self.assertEqual(runner.iter, 5)
        self.assertTrue(
            osp.isfile(osp.join(self.tmp.name, 'on', 'iter_5.pth')))

    @pytest.mark.slow
    def test_the_train_tool_says_it_in_one_line(self):
        """The package's configs carry the hook: the demo's ResNet at a
        learning rate that overflows ends in one line, naming the
        iteration."""
        # (In process: tests/test_segmentation.py runs the tool in a new
        # interpreter.)
        out = run_main(
            'tools/train.py', f'{REPO}/configs/demo/resnet38_1xb64_digits.py',
            '--work-dir', osp.join(self.tmp.name, 'tool'), '--cfg-options',
            'optim_wrapper.optimizer.lr=1e30', 'train_cfg.max_epochs=1',
            'train_cfg.val_interval=2')
        self.assertNotEqual(out.returncode, 0)
        last = out.stderr.strip().splitlines()[-1]
        self.assertNotIn('Traceback', out.stderr)
        self.assertRegex(last, r'^error: the loss is not finite at '
                         r'iteration \d+: loss=(nan|inf)')
