# Copyright (c) mmscalenet contributors. All rights reserved.
"""Speed and memory of ScaleNet against ResNet, measured side by side.

Builds, in one process, mmscalenet's ScaleNet classifier, the authors' layer
sequence (``tools/official_scalenet.py``, the baseline the SA block must not
fall behind) with the same structure, and mmpretrain's ResNet of the same
depth, each with a global-pooling + fc head. It then times, in interleaved
rounds (every round runs every model once, so drifts of the machine hit all
alike), an eval forward and a training step (forward, backward, SGD step),
and reports medians and their ratios to ResNet (and to the authors'
sequence). Memory is the bytes of activations autograd keeps alive for the
backward pass (exact and device independent), plus the CUDA peak on a GPU.

Example:
    python tools/benchmark.py                      # ScaleNet-50, batch 16
    python tools/benchmark.py --arch scalenet101 --rounds 7 --device cuda
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
from official_scalenet import OfficialScaleNet

from mmscalenet import ScaleNet
from mmscalenet.converters import arch_depth


class Classifier(nn.Module):
    """Backbone (last stage) + global average pooling + fc."""

    def __init__(self, backbone: nn.Module, channels: int = 2048):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def build_models(arch: str) -> Dict[str, nn.Module]:
    from mmpretrain.models import ResNet
    depth = arch_depth(arch)
    return {
        f'ResNet-{depth} (mmpretrain)':
        Classifier(ResNet(depth, out_indices=(3, ))),
        f'{arch} (authors\' sequence)':
        OfficialScaleNet(arch),
        f'{arch} (mmscalenet)':
        Classifier(ScaleNet(depth, arch, out_indices=(3, ))),
    }


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def eval_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:

    def step():
        with torch.no_grad():
            model(x)

    return step


def train_step(model: nn.Module, x: torch.Tensor,
               y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    criterion = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        criterion(model(x), y).backward()
        optimizer.step()

    return step


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in one forward."""
    seen, total = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in seen:
            seen.add(key)
            total[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total[0]


def timed_rounds(steps: Dict[str, Callable[[], None]], rounds: int,
                 warmup: int, device: torch.device) -> Dict[str, List[float]]:
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def print_table(title: str, medians: Dict[str, float], unit: str,
                scale: float) -> None:
    names = list(medians)
    base, authors = names[0], names[1]
    print(f'\n{title}')
    print(f'  {"model":<34}{unit:>12}{"vs " + base.split()[0]:>16}'
          f'{"vs authors":>12}')
    for name, value in medians.items():
        vs_authors = (f'{value / medians[authors]:.3f}x'
                      if name != base else '')
        print(f'  {name:<34}{value * scale:>12.1f}'
              f'{value / medians[base]:>15.3f}x{vs_authors:>12}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--arch',
        default='scalenet50',
        choices=['scalenet50', 'scalenet50_light', 'scalenet101',
                 'scalenet152'])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--skip-train', action='store_true', help='eval forward only')
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    models = {n: m.to(device) for n, m in build_models(args.arch).items()}
    print(f'device: {device} ({torch.get_num_threads()} threads), torch '
          f'{torch.__version__}, input {args.size}x{args.size}, '
          f'{args.rounds} interleaved rounds, medians')

    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    for m in models.values():
        m.eval()
    times = timed_rounds({n: eval_step(m, x)
                          for n, m in models.items()}, args.rounds,
                         args.warmup, device)
    print_table(f'Eval forward, batch {args.batch}',
                {n: statistics.median(t)
                 for n, t in times.items()}, 'ms', 1e3)
    if args.skip_train:
        return

    xt = torch.randn(
        args.train_batch, 3, args.size, args.size, device=device)
    yt = torch.randint(0, 1000, (args.train_batch, ), device=device)
    for m in models.values():
        m.train()
    times = timed_rounds({n: train_step(m, xt, yt)
                          for n, m in models.items()}, args.rounds,
                         args.warmup, device)
    print_table(f'Training step (forward, backward, SGD), batch '
                f'{args.train_batch}',
                {n: statistics.median(t)
                 for n, t in times.items()}, 'ms', 1e3)
    saved = {n: saved_activation_bytes(m, xt) for n, m in models.items()}
    print_table(
        f'Activations saved for backward, batch {args.train_batch}',
        {n: float(b)
         for n, b in saved.items()}, 'MiB', 1 / 2**20)
    if device.type == 'cuda':
        peaks = {}
        for name, model in models.items():
            torch.cuda.reset_peak_memory_stats(device)
            train_step(model, xt, yt)()
            sync(device)
            peaks[name] = float(torch.cuda.max_memory_allocated(device))
        print_table('CUDA peak memory, training step', peaks, 'MiB',
                    1 / 2**20)


if __name__ == '__main__':
    main()
