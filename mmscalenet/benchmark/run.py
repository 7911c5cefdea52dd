# Copyright (c) mmscalenet contributors. All rights reserved.
"""The benchmark's rows: ScaleNet against ResNet, per depth, over one
:class:`BenchmarkSettings` (what ``tools/benchmark.py``'s flags say).

With ``choose_sa_rewrites``, the SA rewrites of this device instead
(:class:`~mmscalenet.rewrites.measure.RewriteChoice`). Otherwise, per
depth: eval forward rows per batch size (plain, fused, each optional
runtime path, then the best path of each family), the per-kernel tables,
the backbones' training step at detection size, the backbones alone, the
training step (CUDA graph, profiles, page faults, saved activations, CUDA
peak memory) and Faster R-CNN FPN.
"""
import copy
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Set, Tuple

import torch

from ..rewrites import (NAMED_REWRITES, SARewrites, apply_rewrites,
                        as_rewrites, describe, measured_rewrites)
from ..rewrites.measure import RewriteChoice, load_rewrites, save_choice
from .models import (ModelSet, TimedModel, classifiers, detectors, fused,
                     judged, missing_detection_ops)
from .paths import (compiled_steps, cuda_graph_steps, cuda_graph_train_steps,
                    jit_frozen_steps, kernel_table, onnx_steps,
                    openvino_op_table, openvino_precisions, openvino_steps)
from .stages import stage_macs, stage_params, timed_stages
from .steps import (backbone_train_step, detection_step, eval_step,
                    first_call_seconds, page_faults, saved_activation_bytes,
                    sync, timed, train_step)
from .tables import (allocator, print_best_paths, print_kernel_tables,
                     print_op_type_tables, print_rows, print_stage_rows,
                     print_step_profiles)


@dataclass
class BenchmarkSettings:
    """What to measure and how (``tools/benchmark.py``'s flags)."""
    depths: Sequence[int] = (50, 101)
    batch: Sequence[int] = (16, 1)
    train_batch: int = 16
    det_batch: int = 2
    size: int = 224
    det_size: Tuple[int, int] = (800, 1216)
    rounds: int = 5
    warmup: int = 1
    device: str = 'cpu'
    amp: bool = False
    amp_dtype: Optional[str] = None
    tf32: Optional[bool] = None
    skip_train: bool = False
    skip_eval: bool = False
    skip_detection: bool = False
    channels_last: bool = False
    onnx: bool = False
    engines: bool = False
    compile: bool = False
    compile_mode: str = 'default'
    compile_freezing: bool = False
    inductor_force_layout: bool = False
    jit: bool = False
    cuda_graphs: bool = True
    profile: bool = False
    kernel_table: bool = False
    cudnn_benchmark: bool = False
    cuda_graph_train: bool = False
    sa_rewrites: str = 'auto'
    choose_sa_rewrites: bool = False
    save_sa_rewrites: Optional[str] = None
    channel_multiple: int = 1

    def check(self) -> None:
        """Raise ``ValueError`` (one line, naming the value) for settings
        that cannot run here."""
        if self.channel_multiple < 1:
            raise ValueError(f'--channel-multiple must be at least 1, got '
                             f'{self.channel_multiple}')
        if self.sa_rewrites not in ('auto', *NAMED_REWRITES) and \
                not self.sa_rewrites.endswith('.json'):
            raise ValueError(f'--sa-rewrites must be auto, one of '
                             f'{sorted(NAMED_REWRITES)} or a .json file '
                             f'written by --save-sa-rewrites, got '
                             f'{self.sa_rewrites!r}')
        if self.amp_dtype is not None and (
                not self.amp or self.amp_dtype not in ('float16',
                                                       'bfloat16')):
            raise ValueError(f'--amp-dtype must be float16 or bfloat16, '
                             f'with --amp; got {self.amp_dtype!r}'
                             f'{"" if self.amp else " without --amp"}')
        if self.save_sa_rewrites and not self.choose_sa_rewrites:
            raise ValueError('--save-sa-rewrites saves what '
                             '--choose-sa-rewrites chooses: give both')
        if self.save_sa_rewrites:
            folder = osp.dirname(osp.abspath(self.save_sa_rewrites))
            if not self.save_sa_rewrites.endswith('.json') or not (
                    osp.isdir(folder) and os.access(folder, os.W_OK)):
                raise ValueError(f'--save-sa-rewrites must name a .json file '
                                 f'in a writable folder (for --sa-rewrites), '
                                 f'got {self.save_sa_rewrites!r}')
        if self.choose_sa_rewrites and self.sa_rewrites != 'auto':
            raise ValueError(f'--choose-sa-rewrites times every rewrite '
                             f'itself; it takes no --sa-rewrites, got '
                             f'{self.sa_rewrites!r}')
        if self.engines:
            import importlib.util
            missing = [m for m in ('onnxruntime', 'openvino')
                       if importlib.util.find_spec(m) is None]
            if missing:
                raise ValueError(f'--engines times ONNX Runtime and OpenVINO; '
                                 f'not installed: {", ".join(missing)} (pip '
                                 f'install -r requirements/deploy.txt)')
            if self.device != 'cpu':
                raise ValueError(f'--engines times the CPU engines; got '
                                 f'--device {self.device}')
        if self.device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'--device {self.device}: no GPU is visible to '
                             f'torch (torch.cuda.is_available() is False)')


class Benchmark:
    """Runs the rows of :class:`BenchmarkSettings` and prints them.

    Example:
        >>> Benchmark(BenchmarkSettings(depths=(50, ), batch=(1, ),
        ...                             rounds=1)).run()  # doctest: +SKIP
    """

    def __init__(self, settings: BenchmarkSettings):
        settings.check()
        self.s = settings
        self.device = torch.device(settings.device)
        #: What every ScaleNet's SA blocks run.
        self.rewrites: SARewrites = self.chosen_rewrites()
        self.layout = (torch.channels_last
                       if settings.channels_last else torch.contiguous_format)
        #: Every judged row's family, by its name (best-path rows).
        self.families: Dict[str, str] = {}
        #: The rows that ran in bf16 (best against best per precision).
        self.bf16_rows: Set[str] = set()

    def run(self) -> None:
        s = self.s
        torch.backends.cudnn.benchmark = s.cudnn_benchmark
        if s.tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = s.tf32
            torch.backends.cudnn.allow_tf32 = s.tf32
        if s.amp_dtype:
            torch.set_autocast_dtype(self.device.type,
                                     getattr(torch, s.amp_dtype))
        if s.inductor_force_layout:
            # Inductor keeps NCHW for training where a kxk conv shrinks the
            # channels 2x or more (decide_layout_opt), as ScaleNet's branch
            # convs do; this forces its channels-last layout choice.
            import torch._inductor.config as inductor_config
            inductor_config.force_layout_optimization = True
        print(self.device_line())
        if s.choose_sa_rewrites:
            choice = RewriteChoice(s.depths[0], self.device, s.batch[0],
                                   s.train_batch, s.size, s.amp, s.rounds,
                                   s.warmup, s.channel_multiple,
                                   self.layout).run()
            if s.save_sa_rewrites:
                save_choice(choice, s.save_sa_rewrites)
            return
        for depth in s.depths:
            self.depth(depth)

    def chosen_rewrites(self) -> SARewrites:
        """``--sa-rewrites``: a name, a saved choice, or (auto) the measured
        choice of this device for the run's dtype."""
        name = self.s.sa_rewrites
        if name.endswith('.json'):
            return load_rewrites(name)
        if name != 'auto':
            return as_rewrites(name)
        dtype = torch.float32
        if self.s.amp:
            dtype = getattr(torch, self.s.amp_dtype) if self.s.amp_dtype \
                else torch.get_autocast_dtype(self.device.type)
        return measured_rewrites(self.device, dtype)

    def rewritten(self, models: ModelSet) -> ModelSet:
        """``models`` with their SA blocks running :attr:`rewrites`."""
        for m in models.values():
            apply_rewrites(m.module, self.rewrites)
        return models

    def device_line(self) -> str:
        """The device, the software, and every lever of this run (the
        first line of the output and the title of its Markdown record)."""
        s, device = self.s, self.device
        name = (torch.cuda.get_device_name(device) if device.type == 'cuda'
                else f'CPU, {torch.get_num_threads()} threads')
        if s.amp:
            dtype = s.amp_dtype or str(torch.get_autocast_dtype(
                device.type)).replace('torch.', '')
            levers = [f'AMP ({dtype})']
        else:
            levers = ['fp32']
            if device.type == 'cuda':
                convs, matmuls = (
                    (s.tf32, s.tf32) if s.tf32 is not None else
                    (torch.backends.cudnn.allow_tf32,
                     torch.backends.cuda.matmul.allow_tf32))
                levers[0] += (f' (TF32 convs {"on" if convs else "off"}, '
                              f'matmuls {"on" if matmuls else "off"})')
        levers += [
            lever for wanted, lever in (
                (s.channels_last, 'channels-last'),
                (s.cudnn_benchmark, 'cudnn.benchmark'),
                (s.channel_multiple > 1,
                 f'channels padded to x{s.channel_multiple}'),
                (s.compile, f'torch.compile {s.compile_mode}'),
                (s.compile_freezing, 'torch.compile freezing'),
                (s.inductor_force_layout, 'inductor layout forced'),
                (device.type == 'cuda' and s.cuda_graphs,
                 'CUDA graphs of the eval forward'),
                (device.type == 'cuda' and s.cuda_graph_train,
                 'CUDA graphs of the training step'),
            ) if wanted
        ]
        return (f'device: {name}; torch {torch.__version__}; '
                f'allocator: {allocator()}; {", ".join(levers)}; SA rewrites '
                f'{self.rewrites_name()}; {s.rounds} interleaved rounds after '
                f'{s.warmup} warm-up, medians; ratios are ' + (
                    'to the plain order' if s.choose_sa_rewrites else
                    'ScaleNet / ResNet'))

    def rewrites_name(self) -> str:
        """The SA rewrites of the run, as the device line names them."""
        if self.s.choose_sa_rewrites:
            return 'each timed'
        name = describe(self.rewrites)
        return name if name == self.s.sa_rewrites else \
            f'{name} ({self.s.sa_rewrites})'

    def images(self, batch: int, h: int, w: int) -> torch.Tensor:
        return torch.randn(
            batch, 3, h, w,
            device=self.device).contiguous(memory_format=self.layout)

    def timed_rows(self,
                   title: str,
                   steps: Callable[[], Dict[str, Callable]],
                   models: ModelSet,
                   target: str,
                   paths: Optional[Dict[str, float]] = None,
                   label: str = '',
                   optional: bool = False,
                   compiled: bool = False) -> None:
        """Time one path of ``models`` (``steps`` builds its steps by
        model name) and print its rows, named with ``label``, judged as
        the models are; add them to the best-path candidates ``paths``. An
        ``optional`` path that fails (a compiler, exporter or graph capture
        refusing a model) is reported in one line; the plain and fused
        paths raise. A ``compiled`` path also prints its first calls."""
        s = self.s
        try:
            built = steps()
            if compiled:
                first = first_call_seconds(built, self.device)
            times = timed(built, s.rounds, s.warmup, self.device)
        except Exception as error:  # noqa: BLE001  (report, go on)
            if not optional:
                raise
            reason = str(error).splitlines()[0] if str(error) else ''
            print(f'\n{title}\n  not measured: {type(error).__name__}: '
                  f'{reason}')
            return

        def row(name):
            return f'{name} ({label})' if label else name

        judged_names = [n for n in times if models[n].judged]
        if compiled:
            print_rows(f'{title}: first call (compilation)',
                       {row(n): t for n, t in first.items()}, 's', 1)
        print_rows(title, {row(n): t for n, t in times.items()}, 'ms', 1e3,
                   target, [row(n) for n in judged_names])
        if paths is not None:
            for name in judged_names:
                paths[row(name)] = times[name]
                self.families[row(name)] = models[name].family

    def eval_rows(self, depth: int, batch: int, models: ModelSet) -> None:
        """Eval forward rows at one batch size: plain, fused, the
        requested compiled or runtime paths, then the best path of each
        family."""
        s = self.s
        x = self.images(batch, s.size, s.size)
        paths: Dict[str, float] = {}
        head = f'[{depth}] Eval forward, batch {batch}'

        def steps_of(ms: ModelSet, make=None):
            modules = {n: m.module for n, m in ms.items()}
            return lambda: (make(modules) if make else {
                n: eval_step(m, x, s.amp)
                for n, m in modules.items()
            })

        self.timed_rows(f'{head}, {s.size}x{s.size}', steps_of(models),
                        models, 'eval', paths)
        fused_models = self.rewritten(fused(models, s.channel_multiple))
        if s.profile:
            self.profiles(fused_models, x)
        self.timed_rows(
            f'{head}, conv-BN fused (ResNet: mmcv fuse_conv_bn; ScaleNet: '
            f'switch_to_deploy)', steps_of(fused_models), fused_models,
            'eval_fused', paths)
        channels_last = x.contiguous(memory_format=torch.channels_last)
        optional = [
            (s.engines and not s.channels_last, 'fused, channels-last',
             'channels-last', lambda ms: {
                 n: eval_step(
                     copy.deepcopy(m).to(memory_format=torch.channels_last),
                     channels_last, s.amp)
                 for n, m in ms.items()
             }, False),
            (s.onnx or s.engines, 'fused, ONNX (opset 17) in onnxruntime',
             'onnxruntime', lambda ms: onnx_steps(ms, x), False),
            *[(s.engines, f'fused, ONNX in OpenVINO (CPU, {precision})',
               f'OpenVINO {precision}',
               lambda ms, p=precision: openvino_steps(ms, x, p), False)
              for precision in (openvino_precisions() if s.engines else [])],
            (s.compile, f'fused, torch.compile (mode {s.compile_mode})',
             'torch.compile' if s.compile_mode == 'default' else
             f'torch.compile {s.compile_mode}',
             lambda ms: compiled_steps(ms, x, s.amp, s.compile_mode), True),
            (s.compile_freezing, 'fused, torch.compile with inductor '
             'freezing', 'torch.compile freezing',
             lambda ms: compiled_steps(ms, x, s.amp, freezing=True), True),
            (s.jit, 'fused, TorchScript (trace, freeze, '
             'optimize_for_inference)', 'TorchScript frozen',
             lambda ms: jit_frozen_steps(ms, x), False),
            (self.device.type == 'cuda' and s.cuda_graphs,
             'fused, CUDA graph', 'CUDA graph',
             lambda ms: cuda_graph_steps(ms, x, s.amp), False),
        ]
        for wanted, what, label, make, compiled in optional:
            if wanted:
                self.timed_rows(f'{head}, {what}',
                                steps_of(fused_models, make), fused_models,
                                'eval_fused', paths, label, optional=True,
                                compiled=compiled)
                if label.endswith('bf16'):
                    self.bf16_rows.update(n for n in paths
                                          if n.endswith(f'({label})'))
        self.print_best(depth, batch, paths)

    def print_best(self, depth: int, batch: int,
                   paths: Dict[str, float]) -> None:
        """The best path of each family: in fp32 and, where some rows ran
        in bf16, with bf16 allowed (an --amp run is all one class)."""
        title = (f'[{depth}] Best against best, batch {batch} (each net at '
                 f'its fastest; target: the ScaleNet\'s best at most the '
                 f'ResNet\'s best)')
        bf16 = self.bf16_rows & set(paths)
        if not bf16:
            print_best_paths(title, paths, self.families)
            return
        print_best_paths(title.replace(' (', ', fp32 (', 1), {
            n: t for n, t in paths.items() if n not in bf16
        }, self.families)
        print_best_paths(title.replace(' (', ', bf16 allowed (', 1), paths,
                         self.families)

    def profiles(self, models: ModelSet, x: torch.Tensor) -> None:
        """torch.profiler's table of one eval forward of each model, and the
        time, MACs and parameters of each stage."""
        s = self.s
        modules = {n: m.module for n, m in models.items()}
        print_step_profiles(
            {n: eval_step(m, x, s.amp)
             for n, m in modules.items()}, 'eval forward')
        times = timed_stages(modules, x, s.rounds, s.warmup, self.device,
                             s.amp)
        print_stage_rows('Time per stage (ratio to ResNet), eval forward',
                         {n: [t * 1e3 for t in v]
                          for n, v in times.items()}, 'ms')
        print_stage_rows('MACs per stage (ratio to ResNet), per image',
                         {n: [m / 1e6 for m in stage_macs(model, x)]
                          for n, model in modules.items()}, 'M')
        print_stage_rows('Parameters per stage (ratio to ResNet)',
                         {n: [p / 1e6 for p in stage_params(model)]
                          for n, model in modules.items()}, 'M')

    def depth(self, depth: int) -> None:
        s = self.s
        torch.manual_seed(0)
        h, w = s.det_size
        models = self.rewritten(
            classifiers(depth, s.size, s.channel_multiple))
        for m in models.values():
            m.module = m.module.to(self.device,
                                   memory_format=self.layout).eval()
        for batch in ([] if s.skip_eval else s.batch):
            self.eval_rows(depth, batch, models)
        if s.kernel_table:
            x = self.images(s.batch[0], s.size, s.size)
            deployed = self.rewritten(fused(models))
            print_kernel_tables(
                kernel_table({n: eval_step(m.module, x, s.amp)
                              for n, m in deployed.items()}, self.device),
                f'fused eval forward, batch {s.batch[0]}', self.device)
            for precision in (openvino_precisions() if s.engines else []):
                print_op_type_tables(
                    openvino_op_table({n: m.module
                                       for n, m in deployed.items()}, x,
                                      precision),
                    f'batch {s.batch[0]}')
        if not s.skip_detection and not s.skip_train:
            self.backbone_training_rows(depth, judged(models))
        if not s.skip_detection:
            print_rows(
                f'[{depth}] Backbone alone (stem and 4 stages), eval, one '
                f'{h}x{w} image',
                {n: sum(t) for n, t in timed_stages(
                    {n: m.module for n, m in models.items()},
                    self.images(1, h, w), s.rounds, s.warmup, self.device,
                    s.amp).items()}, 'ms', 1e3)
        if not s.skip_train:
            self.training_rows(depth, models)
        del models
        if not s.skip_detection:
            self.detection_rows(depth)

    def backbone_training_rows(self, depth: int, models: ModelSet) -> None:
        s = self.s
        h, w = s.det_size
        backbones = {n: m.module.backbone for n, m in models.items()}
        for b in backbones.values():
            b.train()  # (mmpretrain's ResNet.train() returns None)
        x = self.images(s.det_batch, h, w)
        print_rows(
            f'[{depth}] Backbone forward + backward, {s.det_batch} images '
            f'{h}x{w} (a detector\'s per-GPU batch)',
            timed({n: backbone_train_step(b, x, s.amp)
                   for n, b in backbones.items()}, s.rounds, s.warmup,
                  self.device), 'ms', 1e3, 'train')
        for b in backbones.values():
            b.eval()

    def training_rows(self, depth: int, models: ModelSet) -> None:
        s, device = self.s, self.device
        x = self.images(s.train_batch, s.size, s.size)
        y = torch.randint(0, 1000, (s.train_batch, ), device=device)
        for m in models.values():
            m.module.train()
        steps = {n: train_step(m.module, x, y, s.amp)
                 for n, m in models.items()}
        ours = [n for n, m in models.items() if m.judged]
        title = f'[{depth}] Training step'
        print_rows(f'{title} (forward, backward, SGD), batch {s.train_batch}',
                   timed(steps, s.rounds, s.warmup, device), 'ms', 1e3,
                   'train', ours)
        if s.cuda_graph_train and device.type == 'cuda':
            self.timed_rows(
                f'{title}, batch {s.train_batch}, fp32, whole step replayed '
                f'as a CUDA graph', lambda: cuda_graph_train_steps(
                    {n: models[n].module for n in ours}, x, y),
                judged(models), 'train', label='CUDA graph train step',
                optional=True)
        if s.kernel_table:
            print_kernel_tables(
                kernel_table({n: steps[n] for n in ours}, device),
                f'training step, batch {s.train_batch}', device)
        if device.type == 'cpu':
            print_rows(
                f'[{depth}] Minor page faults in one training step '
                f'(thousands)', {n: page_faults(st)
                                 for n, st in steps.items()}, 'k', 1e-3)
        if s.profile:
            print_step_profiles({n: steps[n] for n in ours},
                                f'training step, batch {s.train_batch}')
        print_rows(
            f'[{depth}] Activations saved for backward, batch '
            f'{s.train_batch}',
            {n: float(saved_activation_bytes(m.module, x))
             for n, m in models.items()}, 'MiB', 1 / 2**20, 'memory', ours)
        if device.type == 'cuda':
            peaks = {}
            for name, model in models.items():
                step = train_step(model.module, x, y, s.amp)
                torch.cuda.reset_peak_memory_stats(device)
                step()
                sync(device)
                peaks[name] = float(torch.cuda.max_memory_allocated(device))
            print_rows(f'[{depth}] CUDA peak memory, training step', peaks,
                       'MiB', 1 / 2**20, 'memory', ours)

    def detection_rows(self, depth: int) -> None:
        s = self.s
        h, w = s.det_size
        missing = missing_detection_ops()
        if missing:
            print(f'\n[{depth}] Faster R-CNN FPN: not measured ({missing})')
            return
        x = self.images(1, h, w).contiguous()
        dets = self.rewritten(detectors(depth))
        for m in dets.values():
            m.module = m.module.to(self.device)
        # Optional: mmcv's CPU NMS refuses autocast's bfloat16 boxes.
        self.timed_rows(
            f'[{depth}] Faster R-CNN FPN, eval, one {h}x{w} image',
            lambda: {n: detection_step(m.module, x, s.amp)
                     for n, m in dets.items()}, dets, 'detection',
            optional=True)


__all__ = ['Benchmark', 'BenchmarkSettings', 'TimedModel']
