# Copyright (c) mmscalenet contributors. All rights reserved.
"""Every way this package runs a ScaleNet computes the same function.

The SA block's rewrites that run on the device (:mod:`mmscalenet.rewrites`),
the folded deploy model, the deploy model zero-padded to GPU-shaped channels
and the padded build loaded from the published weights are each compared
with the authors' modules, on one device: eval outputs, and, for the
rewrites and the padded build in training, the loss and every gradient.
``tools/dev/check_equivalence.py`` runs it (the GPU script does, on the
GPU); the tests run it on the CPU.
"""
import copy
from dataclasses import dataclass
from typing import List

import torch
import torch.nn as nn

from ..models import ScaleNet
from ..rewrites import apply_rewrites, candidates, describe


@dataclass
class Check:
    """One comparison: the relative error ``|a - b| / |b|`` (2-norms) of a
    way of running against the authors' modules, and the tolerance it must
    meet."""
    name: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance

    def __str__(self) -> str:
        verdict = 'ok' if self.passed else 'DIFFERS'
        return (f'{self.name:<62} relative error {self.error:.2e} '
                f'(<= {self.tolerance:.0e}): {verdict}')


def randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm2d of ``module`` random statistics and affine
    parameters (reproducible), so that folding or reordering them shows."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return module


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([o.flatten(1) for o in model(x)], 1)


def _loss_and_grads(model: nn.Module, x: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = sum((o.float()**2).mean() for o in model(x))
    loss.backward()
    grads = {
        n: p.grad.detach().clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return loss.detach(), grads


def _flat(grads: dict) -> torch.Tensor:
    return torch.cat([g.double().flatten() for _, g in sorted(grads.items())])


def check_equivalence(depth: int = 50,
                      device: str = 'cpu',
                      batch: int = 2,
                      size: int = 224,
                      channel_multiple: int = 8,
                      tolerance: float = 1e-4) -> List[Check]:
    """Compare every way of running the published ScaleNet-``depth`` with
    the authors' modules on ``device`` (fp32, TF32 off while it runs).

    Example:
        >>> checks = check_equivalence(50, 'cpu', batch=1, size=64)
        >>> all(c.passed for c in checks)
        True
    """
    device = torch.device(device)
    tf32 = (torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        return _check_equivalence(depth, device, batch, size, channel_multiple,
                                  tolerance)
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = tf32


def _check_equivalence(depth, device, batch, size, channel_multiple,
                       tolerance):
    torch.manual_seed(0)
    arch = f'scalenet{depth}'
    model = randomize_norms(ScaleNet(depth, arch, out_indices=(0, 1, 2, 3)))
    model = model.to(device).eval()
    x = torch.randn(batch, 3, size, size, device=device)
    checks = []
    rewrites = candidates(device)
    plain = _outputs(model, x)
    for r in rewrites:
        out = _outputs(apply_rewrites(copy.deepcopy(model), r), x)
        checks.append(
            Check(f'eval, SA rewrites {describe(r)}',
                  relative_error(out, plain), tolerance))
    deployed = copy.deepcopy(model).switch_to_deploy()
    checks.append(
        Check('eval, switch_to_deploy()',
              relative_error(_outputs(deployed, x), plain), tolerance))
    padded = copy.deepcopy(model).switch_to_deploy(channel_multiple)
    checks.append(
        Check(f'eval, switch_to_deploy(channel_multiple={channel_multiple})',
              relative_error(_outputs(padded, x), plain), tolerance))
    built = ScaleNet(depth,
                     arch,
                     out_indices=(0, 1, 2, 3),
                     channel_multiple=channel_multiple).to(device)
    built.load_state_dict(model.state_dict())
    built.eval()
    checks.append(
        Check(
            f'eval, padded build (channel_multiple={channel_multiple}) from '
            f'the published weights', relative_error(_outputs(built, x),
                                                     plain), tolerance))
    # Training mode: batch statistics, the loss and every gradient. A
    # training step's fp32 gradients are poorly conditioned (batch
    # statistics of a few images: the plain path alone is off a float64
    # reference by 2-6%, by the thread count), so the paths' gradients are
    # compared in float64, where any difference is the rewrite's own.
    model.train()
    built.train()
    loss, _ = _loss_and_grads(copy.deepcopy(model), x)
    _, grads = _loss_and_grads(copy.deepcopy(model).double(), x.double())
    for r in rewrites:
        name = describe(r)
        rewritten = apply_rewrites(copy.deepcopy(model), r)
        tuned_loss, _ = _loss_and_grads(copy.deepcopy(rewritten), x)
        _, tuned_grads = _loss_and_grads(rewritten.double(), x.double())
        checks.append(
            Check(f'training, SA rewrites {name}: loss',
                  relative_error(tuned_loss, loss), tolerance))
        checks.append(
            Check(f'training, SA rewrites {name}: gradients (float64)',
                  relative_error(_flat(tuned_grads), _flat(grads)), tolerance))
    built_loss, _ = _loss_and_grads(copy.deepcopy(built), x)
    checks.append(
        Check('training, padded build from the published weights: loss',
              relative_error(built_loss, loss), tolerance))
    return checks
