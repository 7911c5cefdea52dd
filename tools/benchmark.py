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
  stage, and the block's last 1x1 conv rewritten onto the pooled maps.

Each row prints the ratio ScaleNet / ResNet and the target of the
performance issue. Never used as a timed test.

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
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import fuse_conv_bn
from mmscalenet.analysis.official_scalenet import OfficialScaleNet

from mmscalenet import ScaleNet
from mmscalenet.analysis import det_data_samples, measure_complexity
from mmscalenet.models.sa_geometry import downsampled_size

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TARGETS = {
    'eval': 0.90,
    'eval_fused': 0.90,
    'train': 1.00,
    'memory': 1.10,
    'detection': 0.70
}


class Classifier(nn.Module):
    """Backbone (last stage) + global average pooling + fc."""

    def __init__(self, backbone: nn.Module, channels: int = 2048):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def classifiers(depth: int) -> Dict[str, nn.Module]:
    from mmpretrain.models import ResNet
    arch = f'scalenet{depth}'
    return {
        f'ResNet-{depth}': Classifier(ResNet(depth, out_indices=(3, ))),
        f'ScaleNet-{depth}': Classifier(ScaleNet(depth, arch,
                                                 out_indices=(3, ))),
        f'ScaleNet-{depth} (authors\' sequence)': OfficialScaleNet(arch),
    }


def fused(models: Dict[str, nn.Module]) -> Dict[str, nn.Module]:
    out = {}
    for name, model in models.items():
        if 'authors' in name:
            continue
        model = copy.deepcopy(model).eval()
        if isinstance(model.backbone, ScaleNet):
            model.backbone.switch_to_deploy()  # the head has no norm
        else:
            fuse_conv_bn(model)
        out[f'{name} fused'] = model
    return out


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


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def eval_step(model: nn.Module, x: torch.Tensor,
              amp: bool) -> Callable[[], None]:

    def step():
        with torch.no_grad(), torch.autocast(x.device.type, enabled=amp):
            model(x)

    return step


def detection_step(model: nn.Module, x: torch.Tensor,
                   amp: bool) -> Callable[[], None]:
    samples = det_data_samples(*x.shape[-2:])

    def step():
        with torch.no_grad(), torch.autocast(x.device.type, enabled=amp):
            model.predict(x, samples)

    return step


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               amp: bool) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(enabled=amp and x.is_cuda)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, enabled=amp):
            loss = criterion(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def page_faults(step: Callable[[], None]) -> float:
    """Minor page faults of this process during one call of ``step``: the
    cost of memory the allocator handed back to the OS and touches again
    (expensive in a VM)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


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


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the activations autograd saves for backward in one forward
    (parameters, which autograd saves too, left out)."""
    seen, total = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if not isinstance(t, nn.Parameter) and key not in seen:
            seen.add(key)
            total[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total[0]


def timed(steps: Dict[str, Callable[[], None]], rounds: int, warmup: int,
          device: torch.device) -> Dict[str, float]:
    """Median seconds of each step over interleaved rounds.

    Every other round runs the steps in reverse order, so that no model
    always runs right after the same one.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for r in range(rounds):
        order = list(steps.items())
        for name, step in (order[::-1] if r % 2 else order):
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


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


def onnx_steps(models: Dict[str, nn.Module],
               x: torch.Tensor) -> Dict[str, Callable[[], None]]:
    """Export each model to ONNX (opset 17) and run it in onnxruntime."""
    import tempfile

    import onnxruntime as ort
    steps = {}
    folder = tempfile.mkdtemp()
    for i, (name, model) in enumerate(models.items()):
        path = osp.join(folder, f'{i}.onnx')
        torch.onnx.export(
            model.cpu(), (x.cpu(), ),
            path,
            opset_version=17,
            dynamo=False,
            input_names=['image'])
        session = ort.InferenceSession(
            path, providers=['CPUExecutionProvider'])
        feed = {'image': x.cpu().numpy()}
        steps[f'{name} (onnxruntime)'] = (
            lambda session=session: session.run(None, feed))
    return steps


def compiled_steps(models: Dict[str, nn.Module], x: torch.Tensor,
                   amp: bool) -> Dict[str, Callable[[], None]]:
    """``torch.compile`` each model (compiled in the warm-up round)."""
    return {
        f'{name} (torch.compile)': eval_step(torch.compile(model), x, amp)
        for name, model in models.items()
    }


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


def last_conv_on_pooled_maps(block: nn.Module, batch: int, side: int,
                             rounds: int, warmup: int,
                             device: torch.device) -> Dict[str, float]:
    """Time a deploy block's last 1x1 conv as it runs (on the concatenated,
    upsampled scales) and rewritten: on each scale's pooled map, then
    repeated and added (fewer MACs; nearest scales only)."""
    sa, conv3 = block.conv2, block.conv3
    sizes = [downsampled_size(side, sa.pool_factors[i]) for i in sa.scales]
    assert all(side % s == 0 for s in sizes), 'nearest scales only'
    parts = [
        torch.rand(batch, sa.out_channels[i], s, s, device=device)
        for i, s in zip(sa.scales, sizes)
    ]
    concat = torch.cat(
        [F.interpolate(p, size=(side, side), mode='nearest') for p in parts],
        dim=1)
    weights = conv3.weight.split([p.shape[1] for p in parts], dim=1)

    def per_scale():
        out = F.conv2d(parts[0], weights[0], conv3.bias)
        for part, weight in zip(parts[1:], weights[1:]):
            z, s = F.conv2d(part, weight), part.shape[-1]
            out.view(batch, -1, s, side // s, s, side // s).add_(
                z[:, :, :, None, :, None])
        return out

    with torch.no_grad():
        expected = conv3(concat)
        assert torch.allclose(per_scale(), expected, rtol=1e-3,
                              atol=1e-3 * expected.abs().max().item())
        return timed(
            {
                'on the concatenation': lambda: conv3(concat),
                'per scale on the pooled maps + repeat-add': per_scale
            }, rounds, warmup, device)


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
    scalenet = next(m for m in models.values()
                    if isinstance(m.backbone, ScaleNet)).backbone
    side = x.shape[-1] // scalenet.stem_stride
    for i in (1, 2):
        print_rows(
            f'Last 1x1 conv of layer{i}[0], deploy, batch {x.shape[0]}',
            last_conv_on_pooled_maps(
                getattr(scalenet, f'layer{i}')[0], x.shape[0],
                side // 2**(i - 1), rounds, warmup, device), 'ms', 1e3)


def benchmark_depth(depth: int, args, device: torch.device) -> None:
    torch.manual_seed(0)
    h, w = args.det_size
    layout = (torch.channels_last
              if args.channels_last else torch.contiguous_format)
    models = {
        n: m.to(device, memory_format=layout).eval()
        for n, m in classifiers(depth).items()
    }
    x = torch.randn(
        args.batch, 3, args.size, args.size,
        device=device).contiguous(memory_format=layout)
    print_rows(
        f'[{depth}] Eval forward, batch {args.batch}, {args.size}x{args.size}',
        timed({n: eval_step(m, x, args.amp)
               for n, m in models.items()}, args.rounds, args.warmup,
              device), 'ms', 1e3, 'eval')
    fused_models = fused(models)
    if args.profile:
        print_profiles(fused_models, x, args.rounds, args.warmup, device,
                       args.amp)
    print_rows(
        f'[{depth}] Eval forward, conv-BN fused (ResNet: mmcv fuse_conv_bn; '
        f'ScaleNet: switch_to_deploy)',
        timed({n: eval_step(m, x, args.amp)
               for n, m in fused_models.items()}, args.rounds, args.warmup,
              device), 'ms', 1e3, 'eval_fused')
    if args.onnx:
        print_rows(
            f'[{depth}] Eval forward, fused, ONNX (opset 17) in onnxruntime',
            timed(onnx_steps(fused_models, x), args.rounds, args.warmup,
                  device), 'ms', 1e3, 'eval_fused')
    if args.compile:
        print_rows(
            f'[{depth}] Eval forward, fused, torch.compile',
            timed(compiled_steps(fused_models, x, args.amp), args.rounds,
                  args.warmup, device), 'ms', 1e3, 'eval_fused')
    del fused_models
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
        xd = torch.randn(1, 3, h, w, device=device)
        dets = {n: m.to(device) for n, m in detectors(depth).items()}
        print_rows(
            f'[{depth}] Faster R-CNN FPN, eval, one {h}x{w} image',
            timed({n: detection_step(m, xd, args.amp)
                   for n, m in dets.items()}, args.rounds, args.warmup,
                  device), 'ms', 1e3, 'detection')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depths', type=int, nargs='+', default=[50, 101])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--train-batch', type=int, default=16)
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
        '--profile',
        action='store_true',
        help='print torch.profiler tables of the fused eval forwards and '
        'of a training step, and the time and MACs of every stage')
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
    print(f'device: {name}; torch {torch.__version__}; '
          f'allocator: {allocator()}; {"AMP" if args.amp else "fp32"}'
          f'{", channels-last" if args.channels_last else ""}; '
          f'{args.rounds} interleaved '
          f'rounds after {args.warmup} warm-up, medians; ratios are '
          f'ScaleNet / ResNet')
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
