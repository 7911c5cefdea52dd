# Copyright (c) mmscalenet contributors. All rights reserved.
"""Speed and memory of ScaleNet against ResNet, measured side by side.

For each depth (50, 101) it builds, in one process, mmpretrain's ResNet and
mmscalenet's ScaleNet (the authors' structure), each with a global pooling +
fc head, plus the authors' layer sequence
(``mmscalenet/analysis/official_scalenet.py``,
the baseline the SA block must not fall behind), and Faster R-CNN FPN
detectors on both backbones. Timings run in interleaved rounds (every round
runs every model once, in alternating order, so drifts of the machine hit
all alike) and report medians. Rows:

- eval forward, batch 16, 224x224: plain eval, and both fused (mmcv's
  ``fuse_conv_bn`` for ResNet, ``ScaleNet.switch_to_deploy()``);
- training step (forward, backward, SGD step), batch 16;
- memory of a training step: the bytes of activations autograd keeps for
  the backward pass (exact, device independent), and the CUDA peak on GPUs;
- the backbones alone (the authors' sequence too) and Faster R-CNN FPN,
  one 800x1216 image, eval;
- with ``--profile``: torch.profiler tables, the time and MACs of every
  stage, and the block's last 1x1 conv rewritten onto the pooled maps;
- with ``--kernel-table``: the top kernels by GPU time (operators by self
  CPU time on a CPU) of ResNet and ScaleNet, eval and training step, with
  an "other" row, so the rows account for every millisecond;
- the GPU levers, each a flag to measure on and off: ``--cudnn-benchmark``,
  ``--channels-last``, ``--compile`` (``--compile-mode``), CUDA graphs of the
  eval forward (default on CUDA) and of the whole training step
  (``--cuda-graph-train``), ``--sa-paths`` (the SA block's CPU rewrites
  forced on or off, :mod:`mmscalenet.models.execution`), and
  ``--channel-multiple`` (rows of ScaleNet padded to GPU-shaped channels:
  the padded build for training, ``switch_to_deploy(channel_multiple=)``
  for the fused rows; each row names its MACs).

Each row prints the ratio ScaleNet / ResNet and the project's target for it
(``TARGETS``). The measuring itself (steps, interleaved timing, saved
activations, page faults, per-stage times and MACs, ONNX and compiled runs)
lives in ``mmscalenet/analysis/benchmark.py``; this script builds the models
and prints the tables. Never used as a timed test.

Example:
    python tools/benchmark.py                        # CPU, depths 50 and 101
    python tools/benchmark.py --depths 50 --rounds 7 --device cuda --amp
    python tools/benchmark.py --device cuda --append-to docs/benchmarks.md
"""
import argparse
import contextlib
import copy
import io
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn

from mmscalenet import ScaleNet
from mmscalenet.analysis import measure_complexity
from mmscalenet.analysis.benchmark import (backbone_train_step,
                                           compiled_steps, cuda_graph_steps,
                                           cuda_graph_train_steps,
                                           detection_step, eval_step,
                                           first_call_seconds,
                                           jit_frozen_steps, kernel_table,
                                           last_conv_on_pooled_maps,
                                           onnx_steps, page_faults,
                                           saved_activation_bytes, stage_macs,
                                           stage_params,
                                           sync, timed, timed_stages,
                                           train_step)
from mmscalenet.analysis.official_scalenet import OfficialScaleNet
from mmscalenet.models.execution import forced_sa_paths

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TARGETS = {
    'eval': 0.90,
    'eval_fused': 0.90,
    'train': 1.00,
    'memory': 1.10,
    'detection': 0.70,
    'latency': 1.00,
}


class Classifier(nn.Module):
    """Backbone (last stage) + global average pooling + fc."""

    def __init__(self, backbone: nn.Module, channels: int = 2048):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def gmacs(model: nn.Module, size: int = 224) -> float:
    """Conv and fc GMACs of a classifier at ``size`` x ``size``."""
    with torch.no_grad():
        return measure_complexity(
            copy.deepcopy(model).eval(),
            (torch.rand(1, 3, size, size), )).macs / 1e9


def classifiers(depth: int,
                size: int = 224,
                channel_multiple: int = 1) -> Dict[str, nn.Module]:
    """ResNet, ScaleNet, with ``channel_multiple`` > 1 ScaleNet built
    padded to it (named with its MACs) and, at inputs of 224 or more (its
    last stage pools a 7x7 map by 7), the authors' layer sequence."""
    from mmpretrain.models import ResNet
    arch = f'scalenet{depth}'
    models = {
        f'ResNet-{depth}': Classifier(ResNet(depth, out_indices=(3, ))),
        f'ScaleNet-{depth}': Classifier(ScaleNet(depth, arch,
                                                 out_indices=(3, ))),
    }
    if channel_multiple > 1:
        padded = Classifier(
            ScaleNet(depth, arch, out_indices=(3, ),
                     channel_multiple=channel_multiple))
        models[f'ScaleNet-{depth} padded x{channel_multiple} '
               f'({gmacs(padded):.3f} GMACs)'] = padded
    if size >= 224:
        models[f'ScaleNet-{depth} (authors\' sequence)'] = \
            OfficialScaleNet(arch)
    return models


def fused(models: Dict[str, nn.Module],
          channel_multiple: int = 1) -> Dict[str, nn.Module]:
    """Every model conv-BN fused; with ``channel_multiple`` > 1 also the
    published ScaleNet deployed with its scales zero-padded to it (named
    with its MACs on paper)."""
    out = {}
    for name, model in models.items():
        if 'authors' in name:
            continue
        deployed = copy.deepcopy(model).eval()
        if isinstance(deployed.backbone, ScaleNet):
            deployed.backbone.switch_to_deploy()  # the head has no norm
        else:
            fuse_conv_bn(deployed)
        out[f'{name} fused'] = deployed
        if channel_multiple > 1 and isinstance(model.backbone, ScaleNet) \
                and model.backbone.channel_multiple == 1:
            padded = copy.deepcopy(model).eval()
            padded.backbone.switch_to_deploy(channel_multiple)
            out[f'{name} fused, zero-padded x{channel_multiple} '
                f'({gmacs(padded):.3f} GMACs)'] = padded
    return out


def missing_detection_ops() -> str:
    """Why the detectors cannot run here ('' if they can): mmdet itself,
    and its RoI and NMS layers need mmcv's compiled ops (not in
    mmcv-lite)."""
    try:
        import mmdet  # noqa: F401
    except ImportError as error:
        return f'mmdet is not installed: {error}'
    try:
        import mmcv.ops  # noqa: F401
    except ImportError as error:
        return f'mmdet needs mmcv built with its ops: {error}'
    return ''


def detectors(depth: int) -> Dict[str, nn.Module]:
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'faster_rcnn',
                 'faster-rcnn_r50_fpn_8xb2-10e_coco-800x1200.py'))
    out = {}
    for name, backbone in ((f'Faster R-CNN ResNet-{depth}',
                            dict(type='ResNet', depth=depth)),
                           (f'Faster R-CNN ScaleNet-{depth}',
                            dict(type='ScaleNet', depth=depth,
                                 structure=f'scalenet{depth}'))):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone = dict(backbone, out_indices=(0, 1, 2, 3))
        with DefaultScope.overwrite_default_scope('mmdet'):
            out[name] = MODELS.build(model_cfg).eval()
    return out


def print_step_profiles(steps: Dict[str, Callable[[], None]],
                        what: str) -> None:
    """torch.profiler's table of one call of each step."""
    from torch.profiler import profile
    for name, step in steps.items():
        step()
        with profile() as prof:
            step()
        print(f'\nProfile, {name}, {what}:')
        print(prof.key_averages().table(
            sort_by='self_cpu_time_total', row_limit=12))


def print_kernel_tables(steps: Dict[str, Callable[[], None]], what: str,
                        device: torch.device, top: int = 15) -> None:
    """:func:`kernel_table` of each step, printed side by side in one list
    per model, with each table's total (its rows add up to it)."""
    unit = 'kernels by GPU time' if device.type == 'cuda' else \
        'operators by self CPU time'
    for name, rows in kernel_table(steps, device, top).items():
        total = sum(r[1] for r in rows)
        print(f'\nTop {unit}, {name}, {what} (one call: {total:.2f} ms)')
        for kernel, ms, calls in rows:
            print(f'  {kernel[:70]:<72}{ms:>9.3f} ms {calls:>6} calls '
                  f'{ms / total:>6.1%}')


def print_rows(title: str, values: Dict[str, float], unit: str, scale: float,
               target: str = None) -> None:
    """One table: values, ratio to the first (ResNet) row, the target."""
    names = list(values)
    base = values[names[0]]
    print(f'\n{title}')
    for name in names:
        ratio = values[name] / base
        line = f'  {name:<40}{values[name] * scale:>10.1f} {unit:<4}' \
               f'{ratio:>8.3f}x'
        if target is not None and name != names[0] and 'authors' not in name:
            verdict = 'meets' if ratio <= TARGETS[target] else 'misses'
            line += f'   target <= {TARGETS[target]:.2f}x: {verdict}'
        print(line)


def print_stage_rows(title: str, values: Dict[str, List[float]],
                     unit: str) -> None:
    """Values per stage, each with its ratio to the first (ResNet) model."""
    names = list(values)
    base = values[names[0]]
    print(f'\n{title}')
    print(f'  {"":<40}' + ''.join(
        f'{s:>16}' for s in ('stem', 'layer1', 'layer2', 'layer3', 'layer4')))
    for name in names:
        print(f'  {name:<40}' + ''.join(
            f'{v:>8.1f} {v / b:>5.2f}x ' for v, b in zip(values[name], base)) +
              f' {unit}')


def print_profiles(models: Dict[str, nn.Module], x: torch.Tensor, rounds: int,
                   warmup: int, device: torch.device, amp: bool) -> None:
    """torch.profiler's table of one eval forward of each model, the time
    and MACs of each stage, and the last-1x1-conv rewrite."""
    print_step_profiles(
        {n: eval_step(m, x, amp)
         for n, m in models.items()}, 'eval forward')
    times = timed_stages(models, x, rounds, warmup, device, amp)
    print_stage_rows('Time per stage (ratio to ResNet), eval forward',
                     {n: [t * 1e3 for t in v]
                      for n, v in times.items()}, 'ms')
    print_stage_rows('MACs per stage (ratio to ResNet), per image',
                     {n: [m / 1e6 for m in stage_macs(model, x)]
                      for n, model in models.items()}, 'M')
    print_stage_rows('Parameters per stage (ratio to ResNet)',
                     {n: [p / 1e6 for p in stage_params(model)]
                      for n, model in models.items()}, 'M')
    scalenet = next(m for m in models.values()
                    if isinstance(m.backbone, ScaleNet)).backbone
    for i in (1, 2):
        block = getattr(scalenet, f'layer{i}')[0]
        # The block's map side at this input (its SA block stores the side
        # at the reference input).
        side = block.conv2.side * x.shape[-1] // scalenet.reference_size
        print_rows(
            f'Last 1x1 conv of layer{i}[0], deploy, batch {x.shape[0]}',
            last_conv_on_pooled_maps(block, x.shape[0], side, rounds, warmup,
                                     device), 'ms', 1e3)


def family(name: str) -> str:
    """The model a row belongs to ('ScaleNet-50 fused (CUDA graph)' ->
    'ScaleNet-50')."""
    return name.split(' ')[0]


def print_best_paths(title: str, paths: Dict[str, float]) -> None:
    """The fastest path of each model (ResNet first), with the ratio of the
    ScaleNet's best to the ResNet's best and the latency target."""
    best: Dict[str, tuple] = {}
    for name, seconds in paths.items():
        if 'authors' in name:
            continue
        if family(name) not in best or seconds < best[family(name)][1]:
            best[family(name)] = (name, seconds)
    print_rows(title, {name: t for name, t in best.values()}, 'ms', 1e3,
               'latency')


def timed_paths(title: str,
                steps: Callable[[], Dict[str, Callable]],
                args,
                device: torch.device,
                target: str,
                paths: Dict[str, float],
                optional: bool = False,
                compiled: bool = False) -> None:
    """Time one inference path of every model and print its rows. An
    ``optional`` path that fails (a compiler, exporter or graph capture
    refusing a model) is reported in one line and left out of the
    best-path rows; the plain and fused paths raise. For a ``compiled``
    path the first call of each model (its compilation) is printed too."""
    try:
        built = steps()
        if compiled:
            first = first_call_seconds(built, device)
        times = timed(built, args.rounds, args.warmup, device)
    except Exception as error:  # noqa: BLE001  (report, go on measuring)
        if not optional:
            raise
        print(f'\n{title}\n  not measured: {type(error).__name__}: '
              f'{str(error).splitlines()[0] if str(error) else ""}')
        return
    if compiled:
        print_rows(f'{title}: first call (compilation)', first, 's', 1)
    print_rows(title, times, 'ms', 1e3, target)
    paths.update(times)


def benchmark_eval(depth: int, batch: int, models: Dict[str, nn.Module],
                   args, device: torch.device) -> None:
    """Eval forward rows at one batch size: plain, fused, the requested
    compiled or runtime paths, then the best path of each model."""
    layout = (torch.channels_last
              if args.channels_last else torch.contiguous_format)
    x = torch.randn(
        batch, 3, args.size, args.size,
        device=device).contiguous(memory_format=layout)
    paths: Dict[str, float] = {}
    timed_paths(
        f'[{depth}] Eval forward, batch {batch}, {args.size}x{args.size}',
        lambda: {n: eval_step(m, x, args.amp)
                 for n, m in models.items()}, args, device, 'eval', paths)
    fused_models = fused(models, args.channel_multiple)
    if args.profile:
        print_profiles(fused_models, x, args.rounds, args.warmup, device,
                       args.amp)
    timed_paths(
        f'[{depth}] Eval forward, batch {batch}, conv-BN fused (ResNet: mmcv '
        f'fuse_conv_bn; ScaleNet: switch_to_deploy)',
        lambda: {n: eval_step(m, x, args.amp)
                 for n, m in fused_models.items()}, args, device,
        'eval_fused', paths)
    if args.onnx:
        timed_paths(
            f'[{depth}] Eval forward, batch {batch}, fused, ONNX (opset 17) '
            f'in onnxruntime', lambda: onnx_steps(fused_models, x), args,
            device, 'eval_fused', paths, optional=True)
    if args.compile:
        timed_paths(
            f'[{depth}] Eval forward, batch {batch}, fused, torch.compile '
            f'(mode {args.compile_mode})',
            lambda: compiled_steps(fused_models, x, args.amp,
                                   args.compile_mode), args, device,
            'eval_fused', paths, optional=True, compiled=True)
    if args.compile_freezing:
        timed_paths(
            f'[{depth}] Eval forward, batch {batch}, fused, torch.compile '
            f'with inductor freezing',
            lambda: compiled_steps(fused_models, x, args.amp,
                                   freezing=True), args, device,
            'eval_fused', paths, optional=True, compiled=True)
    if args.jit:
        timed_paths(
            f'[{depth}] Eval forward, batch {batch}, fused, TorchScript '
            f'(trace, freeze, optimize_for_inference)',
            lambda: jit_frozen_steps(fused_models, x), args, device,
            'eval_fused', paths, optional=True)
    if device.type == 'cuda' and args.cuda_graphs:
        timed_paths(
            f'[{depth}] Eval forward, batch {batch}, fused, CUDA graph',
            lambda: cuda_graph_steps(fused_models, x, args.amp), args,
            device, 'eval_fused', paths, optional=True)
    print_best_paths(
        f'[{depth}] Best inference path of each, batch {batch} (target: the '
        f'ScaleNet\'s best at most the ResNet\'s best)', paths)


def benchmark_depth(depth: int, args, device: torch.device) -> None:
    torch.manual_seed(0)
    h, w = args.det_size
    layout = (torch.channels_last
              if args.channels_last else torch.contiguous_format)
    models = {
        n: m.to(device, memory_format=layout).eval()
        for n, m in classifiers(depth, args.size,
                                args.channel_multiple).items()
    }
    for batch in ([] if args.skip_eval else args.batch):
        benchmark_eval(depth, batch, models, args, device)
    if args.kernel_table:
        x = torch.randn(
            args.batch[0], 3, args.size, args.size,
            device=device).contiguous(memory_format=layout)
        print_kernel_tables(
            {n: eval_step(m, x, args.amp)
             for n, m in fused(models).items()},
            f'fused eval forward, batch {args.batch[0]}', device)
    if not args.skip_detection and not args.skip_train:
        # (mmpretrain's ResNet.train() returns None: no chaining.)
        backbones = {
            n: m.backbone
            for n, m in models.items() if 'authors' not in n
        }
        for b in backbones.values():
            b.train()
        xb = torch.randn(
            args.det_batch, 3, h, w,
            device=device).contiguous(memory_format=layout)
        print_rows(
            f'[{depth}] Backbone forward + backward, {args.det_batch} images '
            f'{h}x{w} (a detector\'s per-GPU batch)',
            timed({n: backbone_train_step(b, xb, args.amp)
                   for n, b in backbones.items()}, args.rounds, args.warmup,
                  device), 'ms', 1e3, 'train')
        for b in backbones.values():
            b.eval()
    if not args.skip_detection:
        print_rows(
            f'[{depth}] Backbone alone (stem and 4 stages), eval, one '
            f'{h}x{w} image',
            {n: sum(t) for n, t in timed_stages(
                models,
                torch.randn(1, 3, h, w, device=device).contiguous(
                    memory_format=layout), args.rounds, args.warmup, device,
                args.amp).items()}, 'ms', 1e3)
    if not args.skip_train:
        xt = torch.randn(
            args.train_batch, 3, args.size, args.size,
            device=device).contiguous(memory_format=layout)
        yt = torch.randint(0, 1000, (args.train_batch, ), device=device)
        for m in models.values():
            m.train()
        steps = {n: train_step(m, xt, yt, args.amp)
                 for n, m in models.items()}
        print_rows(
            f'[{depth}] Training step (forward, backward, SGD), batch '
            f'{args.train_batch}',
            timed(steps, args.rounds, args.warmup, device), 'ms', 1e3,
            'train')
        if args.cuda_graph_train and device.type == 'cuda':
            ours = {n: m for n, m in models.items() if 'authors' not in n}
            timed_paths(
                f'[{depth}] Training step, batch {args.train_batch}, fp32, '
                f'whole step replayed as a CUDA graph',
                lambda: cuda_graph_train_steps(ours, xt, yt), args, device,
                'train', {}, optional=True)
        if args.kernel_table:
            print_kernel_tables(
                {n: s for n, s in steps.items() if 'authors' not in n},
                f'training step, batch {args.train_batch}', device)
        if device.type == 'cpu':
            print_rows(
                f'[{depth}] Minor page faults in one training step '
                f'(thousands)', {n: page_faults(s)
                                 for n, s in steps.items()}, 'k', 1e-3)
        if args.profile:
            print_step_profiles(
                {n: s for n, s in steps.items() if 'authors' not in n},
                f'training step, batch {args.train_batch}')
        print_rows(
            f'[{depth}] Activations saved for backward, batch '
            f'{args.train_batch}',
            {n: float(saved_activation_bytes(m, xt))
             for n, m in models.items()}, 'MiB', 1 / 2**20, 'memory')
        if device.type == 'cuda':
            peaks = {}
            for name, model in models.items():
                step = train_step(model, xt, yt, args.amp)
                torch.cuda.reset_peak_memory_stats(device)
                step()
                sync(device)
                peaks[name] = float(torch.cuda.max_memory_allocated(device))
            print_rows(f'[{depth}] CUDA peak memory, training step', peaks,
                       'MiB', 1 / 2**20, 'memory')
    del models
    if not args.skip_detection:
        missing = missing_detection_ops()
        if missing:
            print(f'\n[{depth}] Faster R-CNN FPN: not measured ({missing})')
            return
        xd = torch.randn(1, 3, h, w, device=device)
        dets = {n: m.to(device) for n, m in detectors(depth).items()}
        # Optional: mmcv's CPU NMS refuses autocast's bfloat16 boxes.
        timed_paths(
            f'[{depth}] Faster R-CNN FPN, eval, one {h}x{w} image',
            lambda: {n: detection_step(m, xd, args.amp)
                     for n, m in dets.items()}, args, device, 'detection', {},
            optional=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depths', type=int, nargs='+', default=[50, 101])
    parser.add_argument(
        '--batch',
        type=int,
        nargs='+',
        default=[16, 1],
        help='batch sizes of the eval rows (each with its best-path row)')
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument(
        '--det-batch',
        type=int,
        default=2,
        help='images of the backbone training rows at --det-size (the '
        'Faster R-CNN configs\' per-GPU batch)')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument(
        '--det-size',
        type=int,
        nargs=2,
        default=[800, 1216],
        metavar=('H', 'W'),
        help='image size of the backbone and detector rows')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--amp', action='store_true', help='autocast (fp16 on CUDA)')
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument(
        '--skip-eval', action='store_true', help='no eval forward rows')
    parser.add_argument(
        '--tf32',
        action='store_true',
        help='fp32 convs and matmuls on TF32 tensor cores (cuDNN\'s convs '
        'use them by default; this turns them on for matmuls too)')
    parser.add_argument('--skip-detection', action='store_true')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='classifiers and their inputs in channels-last layout')
    parser.add_argument(
        '--onnx',
        action='store_true',
        help='also time the fused models exported to ONNX in onnxruntime')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the fused models under torch.compile')
    parser.add_argument(
        '--compile-mode',
        default='default',
        choices=['default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs'],
        help='torch.compile mode of --compile (reduce-overhead: with CUDA '
        'graphs on GPUs)')
    parser.add_argument(
        '--compile-freezing',
        action='store_true',
        help='also time the fused models under torch.compile with '
        'inductor\'s freezing (weights folded and prepacked)')
    parser.add_argument(
        '--jit',
        action='store_true',
        help='also time the fused models as frozen TorchScript '
        '(torch.jit.freeze + optimize_for_inference)')
    parser.add_argument(
        '--no-cuda-graphs',
        dest='cuda_graphs',
        action='store_false',
        help='on CUDA, skip the rows of the fused models replayed as CUDA '
        'graphs')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='print torch.profiler tables of the fused eval forwards and '
        'of a training step, and the time and MACs of every stage')
    parser.add_argument(
        '--kernel-table',
        action='store_true',
        help='print the top kernels by GPU time (operators by self CPU time '
        'on a CPU) of each model, fused eval forward and training step')
    parser.add_argument(
        '--cudnn-benchmark',
        action='store_true',
        help='torch.backends.cudnn.benchmark = True (cuDNN times its '
        'algorithms per shape and keeps the fastest)')
    parser.add_argument(
        '--cuda-graph-train',
        action='store_true',
        help='on CUDA, also time the whole fp32 training step replayed as '
        'a CUDA graph')
    parser.add_argument(
        '--sa-paths',
        default='auto',
        choices=['auto', 'plain', 'cpu-tuned'],
        help='the SA block\'s implementation: per device as measured '
        '(auto), the authors\' plain order everywhere, or the CPU '
        'rewrites everywhere (mmscalenet/models/execution.py)')
    parser.add_argument(
        '--channel-multiple',
        type=int,
        default=1,
        help='also time ScaleNet with every scale padded to a multiple of '
        'this (8: tensor cores): built padded, and deployed zero-padded')
    parser.add_argument(
        '--append-to',
        metavar='MARKDOWN',
        help='also append the output, with the command, to this markdown '
        'file (e.g. docs/benchmarks.md)')
    run(parser.parse_args())


def allocator() -> str:
    """The preloaded memory allocator, if any: on CPUs it changes the
    timings (the system allocator returns large blocks to the OS, and the
    page faults of touching them again cost a VM dearly)."""
    preload = os.environ.get('LD_PRELOAD')
    if not preload:
        return 'system malloc'
    conf = os.environ.get('MALLOC_CONF')
    names = ', '.join(osp.basename(p) for p in preload.split())
    return f'{names} ({conf})' if conf else names


def benchmark(args) -> None:
    device = torch.device(args.device)
    name = (torch.cuda.get_device_name(device)
            if device.type == 'cuda' else f'CPU, {torch.get_num_threads()} '
            f'threads')
    if args.channel_multiple < 1:
        sys.exit(f'error: --channel-multiple must be at least 1, got '
                 f'{args.channel_multiple}')
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tf32 = device.type == 'cuda' and torch.backends.cuda.matmul.allow_tf32
    print(f'device: {name}; torch {torch.__version__}; '
          f'allocator: {allocator()}; {"AMP" if args.amp else "fp32"}'
          f'{" (TF32 matmuls)" if tf32 else ""}'
          f'{", channels-last" if args.channels_last else ""}'
          f'{", cudnn.benchmark" if args.cudnn_benchmark else ""}'
          f'; SA paths {args.sa_paths}; '
          f'{args.rounds} interleaved '
          f'rounds after {args.warmup} warm-up, medians; ratios are '
          f'ScaleNet / ResNet')
    paths = (contextlib.nullcontext() if args.sa_paths == 'auto' else
             forced_sa_paths(args.sa_paths))
    with paths:
        for depth in args.depths:
            benchmark_depth(depth, args, device)


class Tee(io.TextIOBase):
    """Write to a stream and keep a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run(args) -> None:
    """Run the benchmark; with ``--append-to``, append a markdown section
    (date, device line, command, output) to that file."""
    if not args.append_to:
        benchmark(args)
        return
    tee = Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        benchmark(args)
    output = tee.copy.getvalue().strip()
    command = ' '.join(['python', 'tools/benchmark.py'] + sys.argv[1:])
    folder = osp.dirname(osp.abspath(args.append_to))
    os.makedirs(folder, exist_ok=True)
    with open(args.append_to, 'a') as f:
        f.write(f'## {time.strftime("%Y-%m-%d")}, '
                f'{output.splitlines()[0]}\n\n'
                f'`{command}`\n\n```\n{output}\n```\n\n')


if __name__ == '__main__':
    main()
