# Copyright (c) mmscalenet contributors. All rights reserved.
"""GammaSparsityHook: its arguments, and in a real Runner, the gradient it
adds and that lambda_l1 = 0 changes nothing."""
import copy
import logging
from unittest import TestCase

import pytest
import torch
from mmengine.logging import MMLogger
from toy_models import toy_runner

from mmscalenet.allocation import find_scalenet
from mmscalenet.allocation.seed_net import sa_blocks
from mmscalenet.engine import GammaSparsityHook
from mmscalenet.models.sa_geometry import neuron_macs


def sa_gammas(model):
    """Every SA norm's weight, in block and scale order."""
    backbone = find_scalenet(model)
    return [
        blk.conv2.norms[str(i)].weight for blk in sa_blocks(backbone)
        for i in blk.conv2.scales
    ]


class CaptureGrads:
    """A hook that keeps the SA gammas' gradients of the last iteration,
    seen by the optimizer (it runs after backward, before the step)."""

    def __init__(self, model):
        gammas = sa_gammas(model)
        self.grads = [None] * len(gammas)
        for k, gamma in enumerate(gammas):
            gamma.register_post_accumulate_grad_hook(self.keep(k))

    def keep(self, k):

        def hook(param):
            self.grads[k] = param.grad.detach().clone()

        return hook


class TestGammaSparsityHook(TestCase):

    def setUp(self):
        MMLogger.get_current_instance().setLevel(logging.WARNING)

    def test_arguments(self):
        hook = GammaSparsityHook(lambda_l1=1e-3)
        self.assertEqual(hook.lambda_l1, 1e-3)
        self.assertEqual(hook.weighting, 'uniform')
        self.assertEqual(GammaSparsityHook(0).lambda_l1, 0.0)
        self.assertEqual(
            GammaSparsityHook(1e-3, weighting='macs').weighting, 'macs')
        for bad in (-1e-3, float('nan'), True, '1e-3', None):
            with self.assertRaisesRegex(ValueError, 'lambda_l1 must be'):
                GammaSparsityHook(bad)
        with self.assertRaisesRegex(ValueError, "one of .*'flops'"):
            GammaSparsityHook(1e-3, weighting='flops')

    def grads_of_one_step(self, work_dir, hook_cfg):
        runner = self.runner(
            work_dir,
            max_iters=1,
            structure='seed',
            custom_hooks=[hook_cfg] if hook_cfg else None)
        capture = CaptureGrads(runner.model)
        gammas_before = [g.detach().clone() for g in sa_gammas(runner.model)]
        runner.train()
        return runner, capture.grads, gammas_before

    def test_uniform_penalty_adds_lambda_sign_gamma(self):
        lam = 0.25
        _, plain, before = self.grads_of_one_step('plain', None)
        # The same run (seed, data) with the penalty: only the gammas'
        # gradients differ, by lambda * sign(gamma) (the toy net starts its
        # gammas at 1; test_negative_gammas_are_pushed_up covers the sign).
        runner, penalised, _ = self.grads_of_one_step(
            'l1', dict(type='GammaSparsityHook', lambda_l1=lam))
        self.assertEqual(len(plain), len(penalised))
        for g0, g1, gamma in zip(plain, penalised, before):
            torch.testing.assert_close(g1 - g0, lam * torch.sign(gamma))
        # The handles are gone after training.
        hook = [h for h in runner.hooks
                if isinstance(h, GammaSparsityHook)][0]
        self.assertEqual(hook._handles, [])

    def test_macs_weighting_scales_by_neuron_cost(self):
        lam = 0.5
        _, plain, before = self.grads_of_one_step('plain', None)
        runner, penalised, _ = self.grads_of_one_step(
            'macs',
            dict(type='GammaSparsityHook', lambda_l1=lam, weighting='macs'))
        backbone = find_scalenet(runner.model)
        costs = [
            neuron_macs(blk.planes, blk.conv2.side, i,
                        blk.conv2.pool_factors[i])
            for blk in sa_blocks(backbone) for i in blk.conv2.scales
        ]
        counts = [g.numel() for g in before]
        mean_cost = sum(c * n for c, n in zip(costs, counts)) / sum(counts)
        for g0, g1, gamma, cost in zip(plain, penalised, before, costs):
            torch.testing.assert_close(
                g1 - g0, lam * cost / mean_cost * torch.sign(gamma))
        # Expensive (finest) neurons are penalised more than coarse ones.
        self.assertGreater(costs[0], costs[1])

    def test_negative_gammas_are_pushed_up(self):
        hook = GammaSparsityHook(lambda_l1=0.1)
        runner = self.runner(
            'neg', max_iters=1, structure='seed', custom_hooks=[hook])
        gamma = sa_gammas(runner.model)[0]
        with torch.no_grad():
            gamma[:4] = -0.5
            gamma[4:6] = 0.0
        hook.before_train(runner)
        (gamma.sum() * 0).backward()  # the loss adds nothing: penalty only
        expected = torch.full_like(gamma, 0.1)
        expected[:4] = -0.1
        expected[4:6] = 0.0  # the subgradient of |x| at 0
        torch.testing.assert_close(gamma.grad, expected)
        hook.after_train(runner)
        gamma.grad = None
        (gamma.sum() * 0).backward()
        torch.testing.assert_close(gamma.grad, torch.zeros_like(gamma))

    def test_lambda_zero_equals_a_run_without_the_hook(self):
        runner = self.runner(
            'b',
            max_iters=3,
            structure='seed',
            custom_hooks=[dict(type='GammaSparsityHook', lambda_l1=0)])
        runner.train()
        reference = self.runner('c', max_iters=3, structure='seed')
        reference.train()
        for (name, p), q in zip(runner.model.state_dict().items(),
                                reference.model.state_dict().values()):
            self.assertTrue(torch.equal(p, q), name)

    @pytest.mark.slow
    def test_penalty_makes_gammas_sparse_and_is_logged(self):
        runner = self.runner(
            'sparse',
            max_iters=20,
            structure='seed',
            custom_hooks=[dict(type='GammaSparsityHook', lambda_l1=0.5)])
        reference = self.runner('ref', max_iters=20, structure='seed')
        runner.train()
        reference.train()
        l1 = sum(g.abs().sum() for g in sa_gammas(runner.model))
        l1_ref = sum(g.abs().sum() for g in sa_gammas(reference.model))
        # The ratio depends on the trajectory, and so on the machine's
        # rounding (docs/study.md, "What varies between machines"): 0.63 on
        # this project's AMD EPYC with 1 thread, under 0.5 on the machine
        # this test was written on. A quarter below the unpenalised run is
        # what the penalty must reach anywhere.
        self.assertLess(float(l1), 0.75 * float(l1_ref))
        logged = runner.message_hub.get_scalar('train/gamma_l1').current()
        self.assertAlmostEqual(logged, float(l1), delta=0.05 * float(l1))

    def test_amp_and_accumulation_are_refused(self):
        runner = self.runner(
            'acc',
            max_iters=1,
            structure='seed',
            custom_hooks=[dict(type='GammaSparsityHook', lambda_l1=1e-3)])
        runner.optim_wrapper = runner.build_optim_wrapper(
            dict(optimizer=dict(type='SGD', lr=0.1), accumulative_counts=2))
        with self.assertRaisesRegex(ValueError, 'accumulative_counts = 2'):
            runner.train()

    def test_needs_a_scalenet(self):
        runner = self.runner('none', max_iters=1)
        runner.model.backbone = copy.deepcopy(runner.model.fc)
        with self.assertRaisesRegex(ValueError, 'no ScaleNet backbone'):
            GammaSparsityHook(1e-3).before_train(runner)

    def runner(self, name, **kwargs):
        """A toy Runner built from the same global RNG state every time:
        the model is built before the Runner seeds the RNG, so two runs to
        compare must start from equal states."""
        torch.manual_seed(1)
        return toy_runner(self.tmp(name), **kwargs)

    def tmp(self, name):
        import tempfile
        if not hasattr(self, '_tmp'):
            self._tmp = tempfile.TemporaryDirectory()
            self.addCleanup(self._tmp.cleanup)
        return f'{self._tmp.name}/{name}'
