# Copyright (c) mmscalenet contributors. All rights reserved.
"""Per stage: time, MACs and parameters of the stem and the four stages of
a classifier, and their printed profile."""
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..analysis.complexity import measure_complexity
from .steps import eval_step, sync
from .tables import print_stage_rows, print_step_profiles


def stages(model: nn.Module) -> List[Callable]:
    """The stem and the four stages of a classifier, as callables."""
    net = getattr(model, 'backbone', model)
    if hasattr(net, 'forward_stem'):  # ScaleNet
        stem = net.forward_stem
    elif hasattr(net, 'bn1'):  # the authors' sequence
        stem = lambda x: net.maxpool(F.relu(net.bn1(net.conv1(x))))  # noqa
    else:  # mmpretrain's ResNet
        stem = lambda x: net.maxpool(net.relu(net.norm1(net.conv1(x))))  # noqa
    return [stem] + [getattr(net, f'layer{i}') for i in range(1, 5)]


def timed_stages(models: Dict[str, nn.Module],
                 x: torch.Tensor,
                 rounds: int,
                 warmup: int,
                 device: torch.device,
                 amp: bool = False) -> Dict[str, List[float]]:
    """Median seconds of the stem and of each stage, interleaved rounds."""
    times = {name: [] for name in models}
    with torch.no_grad(), torch.autocast(x.device.type, enabled=amp):
        for r in range(warmup + rounds):
            order = list(models.items())
            for name, model in (order[::-1] if r % 2 else order):
                h, row = x, []
                for stage in stages(model):
                    sync(device)
                    start = time.perf_counter()
                    h = stage(h)
                    sync(device)
                    row.append(time.perf_counter() - start)
                if r >= warmup:
                    times[name].append(row)
    return {
        name: [statistics.median(column) for column in zip(*rows)]
        for name, rows in times.items()
    }


class Call(nn.Module):
    """A callable as a module, owning the module its layers belong to (to
    trace a stage that is not a module itself)."""

    def __init__(self, fn: Callable, owner: nn.Module):
        super().__init__()
        self.fn, self.owner = fn, owner

    def forward(self, x):
        return self.fn(x)


def stage_macs(model: nn.Module, x: torch.Tensor) -> List[float]:
    """Conv and fc MACs of the stem and of each stage, per image."""
    macs, h = [], x[:1]
    net = getattr(model, 'backbone', model)
    with torch.no_grad():
        for stage in stages(model):
            macs.append(
                float(measure_complexity(Call(stage, net), (h, )).macs))
            h = stage(h)
    return macs


def stage_params(model: nn.Module) -> List[float]:
    """Parameters of the stem and of each stage (the stem: the backbone's
    parameters outside the four stages). At batch 1 on a CPU the late
    stages read their weights for very little arithmetic, so these, not
    the MACs, bound their time."""
    net = getattr(model, 'backbone', model)
    layers = [
        sum(p.numel() for p in getattr(net, f'layer{i}').parameters())
        for i in range(1, 5)
    ]
    total = sum(p.numel() for p in net.parameters())
    return [float(total - sum(layers))] + [float(n) for n in layers]


def print_stage_profiles(models: Dict[str, nn.Module], x: torch.Tensor,
                         rounds: int, warmup: int, amp: bool) -> None:
    """torch.profiler's table of one eval forward of each model, and the
    time, MACs and parameters of each stage (ratios to the first model)."""
    print_step_profiles({n: eval_step(m, x, amp)
                         for n, m in models.items()}, 'eval forward')
    times = timed_stages(models, x, rounds, warmup, x.device, amp)
    print_stage_rows('Time per stage (ratio to ResNet), eval forward',
                     {n: [t * 1e3 for t in v] for n, v in times.items()},
                     'ms')
    print_stage_rows('MACs per stage (ratio to ResNet), per image',
                     {n: [m / 1e6 for m in stage_macs(model, x)]
                      for n, model in models.items()}, 'M')
    print_stage_rows('Parameters per stage (ratio to ResNet)',
                     {n: [p / 1e6 for p in stage_params(model)]
                      for n, model in models.items()}, 'M')
