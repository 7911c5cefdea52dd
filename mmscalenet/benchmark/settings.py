# Copyright (c) mmscalenet contributors. All rights reserved.
"""What the benchmark measures: ``tools/benchmark.py``'s flags, in three
groups (what to time, the engine and its levers, what else to print)."""
import importlib.util
import os
import os.path as osp
from dataclasses import dataclass, fields
from typing import Optional, Sequence, Tuple

import torch

from ..rewrites import (NAMED_REWRITES, SARewrites, as_rewrites, describe,
                        load_rewrites, measured_rewrites)
from .tables import allocator


@dataclass
class Rows:
    """What to time: the nets, the batches and sizes, how often."""
    depths: Sequence[int] = (50, 101)
    batch: Sequence[int] = (16, 1)
    train_batch: int = 16
    det_batch: int = 2
    size: int = 224
    det_size: Tuple[int, int] = (800, 1216)
    rounds: int = 5
    warmup: int = 1
    skip_train: bool = False
    skip_eval: bool = False
    skip_detection: bool = False


@dataclass
class Levers:
    """The engine and its levers: device, precision, layout, the SA
    rewrites, channel padding, and the runtimes timed beside eager."""
    device: str = 'cpu'
    amp: bool = False
    amp_dtype: Optional[str] = None
    tf32: Optional[bool] = None
    channels_last: bool = False
    cudnn_benchmark: bool = False
    channel_multiple: int = 1
    sa_rewrites: str = 'auto'
    onnx: bool = False
    engines: bool = False
    compile: bool = False
    compile_mode: str = 'default'
    compile_freezing: bool = False
    inductor_force_layout: bool = False
    jit: bool = False
    cuda_graphs: bool = True
    cuda_graph_train: bool = False


@dataclass
class Output:
    """What else to print: profiles, kernel tables, or instead of the rows
    the SA rewrites this device should take."""
    profile: bool = False
    kernel_table: bool = False
    choose_sa_rewrites: bool = False
    save_sa_rewrites: Optional[str] = None


class BenchmarkSettings:
    """The flags of ``tools/benchmark.py`` by name, kept in :class:`Rows`,
    :class:`Levers` and :class:`Output`.

    Example:
        >>> s = BenchmarkSettings(depths=(50, ), amp=True, kernel_table=True)
        >>> s.rows.depths, s.levers.amp, s.output.kernel_table
        ((50,), True, True)
    """

    def __init__(self, **flags):
        groups = {}
        for group in (Rows, Levers, Output):
            names = {f.name for f in fields(group)}
            groups[group] = group(
                **{k: flags.pop(k)
                   for k in list(flags) if k in names})
        if flags:
            raise TypeError(f'unknown benchmark settings: {sorted(flags)}')
        self.rows: Rows = groups[Rows]
        self.levers: Levers = groups[Levers]
        self.output: Output = groups[Output]

    def check(self) -> None:
        """Raise ``ValueError`` (one line, naming the value) for settings
        that cannot run here."""
        if self.levers.channel_multiple < 1:
            raise ValueError(f'--channel-multiple must be at least 1, got '
                             f'{self.levers.channel_multiple}')
        if self.levers.sa_rewrites not in ('auto', *NAMED_REWRITES) and \
                not self.levers.sa_rewrites.endswith('.json'):
            raise ValueError(f'--sa-rewrites must be auto, one of '
                             f'{sorted(NAMED_REWRITES)} or a .json file '
                             f'written by --save-sa-rewrites, got '
                             f'{self.levers.sa_rewrites!r}')
        if self.levers.amp_dtype is not None and (
                not self.levers.amp
                or self.levers.amp_dtype not in ('float16', 'bfloat16')):
            raise ValueError(f'--amp-dtype must be float16 or bfloat16, '
                             f'with --amp; got {self.levers.amp_dtype!r}'
                             f'{"" if self.levers.amp else " without --amp"}')
        if self.output.save_sa_rewrites and not self.output.choose_sa_rewrites:
            raise ValueError('--save-sa-rewrites saves what '
                             '--choose-sa-rewrites chooses: give both')
        if self.output.save_sa_rewrites:
            folder = osp.dirname(osp.abspath(self.output.save_sa_rewrites))
            if not self.output.save_sa_rewrites.endswith('.json') or not (
                    osp.isdir(folder) and os.access(folder, os.W_OK)):
                raise ValueError(f'--save-sa-rewrites must name a .json file '
                                 f'in a writable folder (for --sa-rewrites), '
                                 f'got {self.output.save_sa_rewrites!r}')
        if self.output.choose_sa_rewrites and \
                self.levers.sa_rewrites != 'auto':
            raise ValueError(f'--choose-sa-rewrites times every rewrite '
                             f'itself; it takes no --sa-rewrites, got '
                             f'{self.levers.sa_rewrites!r}')
        if self.levers.engines:
            missing = [
                m for m in ('onnxruntime', 'openvino')
                if importlib.util.find_spec(m) is None
            ]
            if missing:
                raise ValueError(f'--engines times ONNX Runtime and OpenVINO; '
                                 f'not installed: {", ".join(missing)} (pip '
                                 f'install -r requirements/deploy.txt)')
            if self.levers.device != 'cpu':
                raise ValueError(f'--engines times the CPU engines; got '
                                 f'--device {self.levers.device}')
        if self.levers.device.startswith(
                'cuda') and not torch.cuda.is_available():
            raise ValueError(
                f'--device {self.levers.device}: no GPU is visible to '
                f'torch (torch.cuda.is_available() is False)')

    def rewrites(self) -> SARewrites:
        """``--sa-rewrites``: a name, a saved choice, or (auto) the measured
        choice of the device for the run's dtype."""
        levers = self.levers
        if levers.sa_rewrites.endswith('.json'):
            return load_rewrites(levers.sa_rewrites)
        if levers.sa_rewrites != 'auto':
            return as_rewrites(levers.sa_rewrites)
        device = torch.device(levers.device)
        dtype = torch.float32
        if levers.amp:
            dtype = getattr(torch, levers.amp_dtype) if levers.amp_dtype \
                else torch.get_autocast_dtype(device.type)
        return measured_rewrites(device, dtype)

    def device_line(self) -> str:
        """The device, the software, and every lever of the run (the first
        line of the output and the title of its Markdown record)."""
        lv, device = self.levers, torch.device(self.levers.device)
        name = (torch.cuda.get_device_name(device) if device.type == 'cuda'
                else f'CPU, {torch.get_num_threads()} threads')
        if lv.amp:
            dtype = lv.amp_dtype or str(
                torch.get_autocast_dtype(device.type)).replace('torch.', '')
            levers = [f'AMP ({dtype})']
        else:
            levers = ['fp32']
            if device.type == 'cuda':
                convs, matmuls = ((lv.tf32, lv.tf32) if lv.tf32 is not None
                                  else (torch.backends.cudnn.allow_tf32,
                                        torch.backends.cuda.matmul.allow_tf32))
                levers[0] += (f' (TF32 convs {"on" if convs else "off"}, '
                              f'matmuls {"on" if matmuls else "off"})')
        levers += [
            lever for wanted, lever in (
                (lv.channels_last, 'channels-last'),
                (lv.cudnn_benchmark, 'cudnn.benchmark'),
                (lv.channel_multiple > 1,
                 f'channels padded to x{lv.channel_multiple}'),
                (lv.compile, f'torch.compile {lv.compile_mode}'),
                (lv.compile_freezing, 'torch.compile freezing'),
                (lv.inductor_force_layout, 'inductor layout forced'),
                (device.type == 'cuda' and lv.cuda_graphs,
                 'CUDA graphs of the eval forward'),
                (device.type == 'cuda' and lv.cuda_graph_train,
                 'CUDA graphs of the training step'),
            ) if wanted
        ]
        choosing = self.output.choose_sa_rewrites
        return (f'device: {name}; torch {torch.__version__}; '
                f'allocator: {allocator()}; {", ".join(levers)}; SA rewrites '
                f'{self.rewrites_name()}; {self.rows.rounds} interleaved '
                f'rounds after {self.rows.warmup} warm-up, medians; ratios '
                f'are ' + ('to the plain order'
                           if choosing else 'ScaleNet / ResNet'))

    def rewrites_name(self) -> str:
        """The SA rewrites of the run, as the device line names them."""
        if self.output.choose_sa_rewrites:
            return 'each timed'
        name, flag = describe(self.rewrites()), self.levers.sa_rewrites
        return name if name == flag else f'{name} ({flag})'


__all__ = ['BenchmarkSettings', 'Levers', 'Output', 'Rows']
