# Copyright (c) mmscalenet contributors. All rights reserved.
"""A sparsity penalty on the SA blocks' BN gammas for seed training."""
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper

from ...allocation.seed_net import find_scalenet, sa_blocks
from ...models.sa_geometry import neuron_macs
from ...errors import ConfigError
from ...registry import register_hook

WEIGHTINGS = ('uniform', 'macs')


@register_hook
class GammaSparsityHook(Hook):
    """L1 penalty on the |gamma| of every SA output neuron of a seed net.

    The neuron allocation ranks a seed net's SA neurons by the |gamma| of
    their BatchNorm channel. Trained plainly, those gammas tend to stay close
    to their initial 1; a sparsity penalty (Network Slimming, Liu et al.
    2017; MorphNet, Gordon et al. 2018, the paper's reference [8]) drives the
    unneeded ones towards zero. This hook adds to the training loss, in
    effect,

    ``lambda_l1 * sum_j w_j * |gamma_j|``

    over the SA blocks' norms of the model's ScaleNet backbone: during every
    backward pass each gamma's gradient receives ``lambda_l1 * w_j *
    sign(gamma_j)`` (the L1 subgradient, 0 at 0), before the optimizer
    wrapper clips or steps. With ``weighting='uniform'`` every ``w_j`` is 1
    (Network Slimming); with ``'macs'`` ``w_j`` is the MACs of the neuron's
    conv divided by the mean over all SA neurons (MorphNet's FLOP-weighted
    form, scaled so that ``lambda_l1`` means the same on average). Only the
    SA norms are penalised: the stem, the 1x1 convs' norms and the
    shortcuts are not. ``lambda_l1 = 0`` registers nothing: the run is
    exactly a run without the hook.

    The current penalty is logged as ``train/gamma_l1`` (the weighted sum of
    |gamma| without ``lambda_l1``).

    Args:
        lambda_l1 (float): Strength of the penalty, >= 0.
        weighting (str): ``'uniform'`` or ``'macs'``.
            Defaults to ``'uniform'``.

    Example:
        >>> custom_hooks = [
        ...     dict(type='GammaSparsityHook', lambda_l1=1e-3),
        ...     dict(type='NeuronAllocationHook', budget_ratio=1.0)]
    """

    priority = 'NORMAL'

    def __init__(self, lambda_l1: float, weighting: str = 'uniform'):
        if isinstance(lambda_l1, bool) or not isinstance(
                lambda_l1, (int, float)) or not lambda_l1 >= 0:
            raise ValueError(f'lambda_l1 must be a number >= 0, got '
                             f'{lambda_l1!r}')
        if weighting not in WEIGHTINGS:
            raise ValueError(f'weighting must be one of {WEIGHTINGS}, got '
                             f'{weighting!r}')
        self.lambda_l1 = float(lambda_l1)
        self.weighting = weighting
        self.gammas: List[torch.Tensor] = []
        self.weights: List[torch.Tensor] = []
        self._handles = []

    def penalised_norms(self, model) -> list:
        """``(gamma, weights)`` of every SA norm of ``model``'s ScaleNet."""
        backbone = find_scalenet(model)
        pairs = []
        for block in sa_blocks(backbone):
            sa = block.conv2
            for i in sa.scales:
                gamma = sa.norms[str(i)].weight
                if gamma is None:
                    raise ValueError(
                        f'GammaSparsityHook: an SA norm has no affine weight '
                        f'(gamma) to penalise ({type(sa.norms[str(i)])})')
                cost = neuron_macs(block.planes, sa.side, i,
                                   sa.pool_factors[i], sa.downsample)
                pairs.append((gamma, float(cost)))
        if self.weighting == 'uniform':
            return [(g, torch.ones_like(g.detach())) for g, _ in pairs]
        count = sum(g.numel() for g, _ in pairs)
        mean_cost = sum(c * g.numel() for g, c in pairs) / count
        return [(g, torch.full_like(g.detach(), c / mean_cost))
                for g, c in pairs]

    def before_train(self, runner) -> None:
        if self.lambda_l1 == 0:
            return
        optim_wrapper = runner.optim_wrapper
        if isinstance(optim_wrapper, AmpOptimWrapper):
            raise ConfigError(
                'GammaSparsityHook adds an unscaled gradient and does not '
                'support AmpOptimWrapper (--amp); train the seed net in fp32')
        if getattr(optim_wrapper, '_accumulative_counts', 1) != 1:
            raise ConfigError(
                'GammaSparsityHook does not support accumulative_counts = '
                f'{optim_wrapper._accumulative_counts}; use 1')
        try:
            pairs = self.penalised_norms(runner.model)
        except ValueError as e:  # no ScaleNet, or a norm without gamma
            raise ConfigError(f'GammaSparsityHook: {e}') from None
        self.gammas = [g for g, _ in pairs]
        self.weights = [w for _, w in pairs]
        for gamma, weight in pairs:
            self._handles.append(
                gamma.register_hook(self._penalty_gradient(gamma, weight)))

    def _penalty_gradient(self, gamma: torch.Tensor, weight: torch.Tensor):
        scaled = self.lambda_l1 * weight

        def add_penalty(grad: torch.Tensor) -> torch.Tensor:
            return grad + scaled.to(grad) * torch.sign(gamma.detach())

        return add_penalty

    def weighted_l1(self) -> float:
        """``sum_j w_j |gamma_j|`` over the penalised gammas."""
        with torch.no_grad():
            return float(
                sum((w * g.abs()).sum()
                    for g, w in zip(self.gammas, self.weights)))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.gammas and self.every_n_train_iters(runner, 10):
            runner.message_hub.update_scalar('train/gamma_l1',
                                             self.weighted_l1())

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
