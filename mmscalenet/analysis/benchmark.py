# Copyright (c) mmscalenet contributors. All rights reserved.
"""Measuring speed and memory, for ``tools/benchmark.py`` (which builds the
models, prints the tables and states the targets), as mmdet keeps its
measurement in ``mmdet/utils/benchmark.py``.

Every timing is a median over interleaved rounds (:func:`timed`): every
round runs every step once, in alternating order, so that drifts of the
machine hit all models alike.

Example:
    >>> steps = {'a': eval_step(model_a, x, amp=False),
    ...          'b': eval_step(model_b, x, amp=False)}  # doctest: +SKIP
    >>> timed(steps, rounds=5, warmup=1, device=x.device)  # doctest: +SKIP
    {'a': 0.0123, 'b': 0.0118}
"""
import os.path as osp
import resource
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.sa_geometry import downsampled_size, upsample_is_nearest
from .complexity import det_data_samples, measure_complexity


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


def backbone_train_step(backbone: nn.Module, x: torch.Tensor,
                        amp: bool) -> Callable[[], None]:
    """Forward and backward of a detection backbone alone (every stage's
    output enters the loss, as an FPN reads them), without an optimizer:
    what a backbone costs per step of a detector's training."""
    scaler = torch.amp.GradScaler(enabled=amp and x.is_cuda)

    def step():
        backbone.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, enabled=amp):
            loss = sum(out.float().mean() for out in backbone(x))
        scaler.scale(loss).backward()

    return step


def cuda_graph_train_steps(models: Dict[str, nn.Module], x: torch.Tensor,
                           y: torch.Tensor) -> Dict[str, Callable[[], None]]:
    """Capture each model's whole fp32 training step (forward, loss,
    backward, SGD with momentum) in a CUDA graph, as PyTorch's "whole
    network capture" recipe does; the step replays it. The loss of the
    first replay is checked against an eager step from the same state."""
    steps = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.SGD(
            model.parameters(), lr=1e-3, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        static_x, static_y = x.clone(), y.clone()
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm up: momentum buffers, cuDNN choices
                optimizer.zero_grad(set_to_none=True)
                criterion(model(static_x), static_y).backward()
                optimizer.step()
        torch.cuda.current_stream(x.device).wait_stream(side)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        optimizer.zero_grad(set_to_none=True)
        expected = criterion(model(static_x), static_y).item()
        model.load_state_dict(state)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            static_loss = criterion(model(static_x), static_y)
            static_loss.backward()
            optimizer.step()
        model.load_state_dict(state)
        graph.replay()
        torch.cuda.synchronize(x.device)
        if abs(static_loss.item() - expected) > 1e-3 * max(1, abs(expected)):
            raise RuntimeError(f'{name}: the CUDA graph training step\'s '
                               f'loss {static_loss.item():.5f} differs from '
                               f'the eager one {expected:.5f}')
        steps[f'{name} (CUDA graph train step)'] = graph.replay
    return steps


def kernel_table(steps: Dict[str, Callable[[], None]], device: torch.device,
                 top: int = 15) -> Dict[str, List[tuple]]:
    """Per step, its kernels by device time (CUDA) or its operators by self
    CPU time (CPU), over one profiled call after a warm-up: the ``top``
    largest as ``(name, milliseconds, calls)``, then one ``('other', ms,
    calls)`` row for the rest, so the rows add up to the step's whole
    measured time.

    Example:
        >>> kernel_table({'net': step}, torch.device('cpu'))  # doctest: +SKIP
        {'net': [('aten::mkldnn_convolution', 5.1, 53), ..., ('other', ...)]}
    """
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    tables = {}
    for name, step in steps.items():
        step()
        sync(device)
        with profile(activities=activities) as prof:
            step()
            sync(device)
        rows = []
        if device.type == 'cuda':
            # Device kernels only: events that ran on the GPU.
            for event in prof.events():
                if event.device_type.name == 'CUDA':
                    rows.append((event.name, event.device_time_total / 1e3))
        else:
            for event in prof.key_averages():
                rows.append((event.key, event.self_cpu_time_total / 1e3,
                             event.count))
        if device.type == 'cuda':
            merged: Dict[str, list] = {}
            for kernel, ms in rows:
                entry = merged.setdefault(kernel, [0.0, 0])
                entry[0] += ms
                entry[1] += 1
            rows = [(k, v[0], v[1]) for k, v in merged.items()]
        rows.sort(key=lambda r: -r[1])
        rest = rows[top:]
        tables[name] = rows[:top] + [('other', sum(r[1] for r in rest),
                                      sum(r[2] for r in rest))]
    return tables


def page_faults(step: Callable[[], None]) -> float:
    """Minor page faults of this process during one call of ``step``: the
    cost of memory the allocator handed back to the OS and touches again
    (expensive in a VM)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


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
            times[name].append(call_seconds(step, device))
    return {name: statistics.median(t) for name, t in times.items()}


def call_seconds(step: Callable[[], None], device: torch.device) -> float:
    """Seconds of one call of ``step``, the device synchronised around it."""
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - start


def first_call_seconds(steps: Dict[str, Callable[[], None]],
                       device: torch.device) -> Dict[str, float]:
    """Seconds of each step's first call: for a compiled model, its
    compilation (and one run)."""
    return {name: call_seconds(step, device) for name, step in steps.items()}


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


def compiled_steps(models: Dict[str, nn.Module],
                   x: torch.Tensor,
                   amp: bool,
                   mode: str = 'default',
                   freezing: bool = False) -> Dict[str, Callable[[], None]]:
    """``torch.compile`` each model (compiled in the warm-up round).

    ``mode`` is torch.compile's: ``'reduce-overhead'`` adds CUDA graphs on
    GPUs, ``'max-autotune'`` searches kernels (minutes per model).
    ``freezing`` turns on inductor's freezing (weights as constants,
    folded and, on CPUs, prepacked for oneDNN); it replaces ``mode``.
    """
    if freezing:
        label, compile_args = 'torch.compile freezing', dict(
            options={'freezing': True})
    else:
        label = ('torch.compile'
                 if mode == 'default' else f'torch.compile {mode}')
        compile_args = dict(mode=mode)
    return {
        f'{name} ({label})': eval_step(
            torch.compile(model, **compile_args), x, amp)
        for name, model in models.items()
    }


def jit_frozen_steps(models: Dict[str, nn.Module],
                     x: torch.Tensor) -> Dict[str, Callable[[], None]]:
    """TorchScript each model (trace, ``torch.jit.freeze``,
    ``optimize_for_inference``: on CPUs oneDNN conv fusions and prepacked
    weights); the traced output is checked against the eager one."""
    steps = {}
    for name, model in models.items():
        with torch.no_grad():
            expected = model(x)
            frozen = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model.eval(), x)))
            for _ in range(2):  # the first calls run the graph optimizer
                got = frozen(x)
        if not torch.allclose(got, expected, rtol=1e-3,
                              atol=1e-3 * expected.abs().max().item()):
            raise RuntimeError(f'{name}: the frozen TorchScript model '
                               f'differs from the eager one')

        def step(frozen=frozen):
            with torch.no_grad():
                frozen(x)

        steps[f'{name} (TorchScript frozen)'] = step
    return steps


def cuda_graph_steps(models: Dict[str, nn.Module], x: torch.Tensor,
                     amp: bool) -> Dict[str, Callable[[], None]]:
    """Capture each model's eval forward on ``x`` in a CUDA graph; the step
    replays it (one launch for the whole net: what fixed-shape serving on a
    GPU does). The replayed output is checked against the eager one."""
    steps = {}
    for name, model in models.items():
        static_x = x.clone()
        autocast = torch.autocast('cuda', enabled=amp, cache_enabled=False)
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side), torch.no_grad(), autocast:
            for _ in range(3):  # warm up (cuDNN choices) off the graph
                expected = model(static_x)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad(), autocast:
            static_out = model(static_x)
        graph.replay()
        torch.cuda.synchronize(x.device)
        if not torch.allclose(static_out.float(), expected.float(),
                              rtol=1e-3, atol=1e-3):
            raise RuntimeError(f'{name}: the CUDA graph replay differs from '
                               f'the eager forward')
        steps[f'{name} (CUDA graph)'] = graph.replay
    return steps


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


def last_conv_on_pooled_maps(block: nn.Module, batch: int, side: int,
                             rounds: int, warmup: int,
                             device: torch.device) -> Dict[str, float]:
    """Time a deploy block's last 1x1 conv as it runs (on the concatenated,
    upsampled scales) and rewritten: on each scale's pooled map, then
    repeated and added (fewer MACs; nearest scales only)."""
    sa, conv3 = block.conv2, block.conv3
    sizes = [downsampled_size(side, sa.pool_factors[i]) for i in sa.scales]
    assert all(upsample_is_nearest((side, side), (s, s)) for s in sizes), \
        'nearest scales only'
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
