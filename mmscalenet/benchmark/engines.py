# Copyright (c) mmscalenet contributors. All rights reserved.
"""Other ways to run a model, each as timed steps keyed by the models'
names: ONNX in onnxruntime, torch.compile, frozen TorchScript, CUDA graphs
of the eval forward and of the whole training step; and the per-kernel
table of a step. Each checks its outputs against the eager model's where
it can differ."""
import functools
import os.path as osp
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from .steps import eval_step, sync


def export_onnx(model: nn.Module, x: torch.Tensor, path: str) -> None:
    """``model`` on the CPU to ONNX (opset 17, the tracing exporter) at the
    shape of ``x``, its input named ``image``."""
    torch.onnx.export(
        model.cpu(), (x.cpu(), ),
        path,
        opset_version=17,
        dynamo=False,
        input_names=['image'])


def onnx_steps(models: Dict[str, nn.Module],
               x: torch.Tensor) -> Dict[str, Callable[[], None]]:
    """Export each model to ONNX (opset 17) and run it in onnxruntime."""
    import tempfile

    import onnxruntime as ort
    steps = {}
    folder = tempfile.mkdtemp()
    for i, (name, model) in enumerate(models.items()):
        path = osp.join(folder, f'{i}.onnx')
        export_onnx(model, x, path)
        session = ort.InferenceSession(
            path, providers=['CPUExecutionProvider'])
        feed = {'image': x.cpu().numpy()}
        steps[name] = (
            lambda session=session: session.run(None, feed))
    return steps


def openvino_steps(models: Dict[str, nn.Module], x: torch.Tensor,
                   precision: str) -> Dict[str, Callable[[], None]]:
    """Export each model to ONNX and compile it with OpenVINO's CPU plugin
    at ``precision`` (its ``INFERENCE_PRECISION_HINT``: ``'f32'`` or
    ``'bf16'``); an f32 output is checked against the eager one."""
    import tempfile

    import openvino as ov
    core = ov.Core()
    steps = {}
    folder = tempfile.mkdtemp()
    for i, (name, model) in enumerate(models.items()):
        path = osp.join(folder, f'{i}.onnx')
        with torch.no_grad():
            expected = model.cpu()(x.cpu())
        export_onnx(model, x, path)
        compiled = core.compile_model(
            path, 'CPU', {'INFERENCE_PRECISION_HINT': precision})
        got = torch.from_numpy(compiled(x.cpu().numpy())[0])
        if precision == 'f32' and not torch.allclose(
                got, expected, rtol=1e-3, atol=1e-3):
            raise RuntimeError(f'{name}: OpenVINO f32 differs from the '
                               f'eager output by '
                               f'{(got - expected).abs().max():.2e}')
        feed = x.cpu().numpy()
        steps[name] = (lambda compiled=compiled: compiled(feed))
    return steps


def openvino_op_table(models: Dict[str, nn.Module], x: torch.Tensor,
                      precision: str, rounds: int = 5) -> Dict[str, List]:
    """OpenVINO's own per-node counters (``PERF_COUNT``) of each model at
    ``precision``: the executed nodes' time summed by node type, averaged
    over ``rounds`` inferences after one, as rows ``(type, ms, nodes)``
    that add up to the inference (kernel_table's form)."""
    import tempfile
    from collections import defaultdict

    import openvino as ov
    core = ov.Core()
    folder = tempfile.mkdtemp()
    tables = {}
    for i, (name, model) in enumerate(models.items()):
        path = osp.join(folder, f'{i}.onnx')
        export_onnx(model, x, path)
        request = core.compile_model(
            path, 'CPU', {
                'INFERENCE_PRECISION_HINT': precision,
                'PERF_COUNT': True
            }).create_infer_request()
        feed = x.cpu().numpy()
        request.infer(feed)
        totals, nodes = defaultdict(float), defaultdict(int)
        for _ in range(rounds):
            request.infer(feed)
            for info in request.get_profiling_info():
                if info.status == info.Status.EXECUTED:
                    totals[info.node_type] += \
                        info.real_time.total_seconds() * 1e3 / rounds
                    nodes[info.node_type] += 1
        tables[f'{name} (OpenVINO {precision})'] = sorted(
            ((t, ms, nodes[t] // rounds) for t, ms in totals.items()),
            key=lambda row: -row[1])
    return tables


def openvino_precisions() -> List[str]:
    """The inference precisions OpenVINO's CPU plugin runs here: ``f32``,
    and ``bf16`` where the CPU has bf16 instructions (its default there)."""
    import openvino as ov
    capabilities = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    return ['f32'] + (['bf16'] if 'BF16' in capabilities else [])


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
    compile_args = dict(options={'freezing': True}) if freezing else dict(
        mode=mode)
    return {
        name: eval_step(torch.compile(model, **compile_args), x, amp)
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

        steps[name] = step
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
        steps[name] = functools.partial(_replay, graph,
                                        (static_x, static_out))
    return steps


def _replay(graph: torch.cuda.CUDAGraph, static: tuple) -> None:
    """Replay ``graph``; ``static`` holds the tensors it reads and writes
    alive (freed, their memory would be handed to the next model's)."""
    graph.replay()


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
        steps[name] = functools.partial(
            _replay, graph, (static_x, static_y, static_loss))
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
