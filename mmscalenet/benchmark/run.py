# Copyright (c) mmscalenet contributors. All rights reserved.
"""The benchmark's rows: ScaleNet against ResNet, per depth, over one
:class:`BenchmarkSettings` (what ``tools/benchmark.py``'s flags say).

With ``choose_sa_rewrites``, the SA rewrites of this device instead
(:class:`~mmscalenet.rewrites.measure.RewriteChoice`). Otherwise, per
depth: eval forward rows per batch size (plain, fused, each optional
runtime engine, then the best engine of each family), the per-kernel
tables,
the backbones' training step at detection size, the backbones alone, the
training step (CUDA graph, profiles, page faults, saved activations, CUDA
peak memory) and Faster R-CNN FPN.
"""
import copy
from typing import Callable, Dict, Optional, Set

import torch

from ..rewrites import SARewrites, apply_rewrites, save_choice
from .engines import (compiled_steps, cuda_graph_steps, cuda_graph_train_steps,
                      jit_frozen_steps, kernel_table, onnx_steps,
                      openvino_op_table, openvino_precisions, openvino_steps)
from .models import (ModelSet, classifiers, detectors, fused,
                     judged, missing_detection_ops)
from .settings import BenchmarkSettings
from .stages import print_stage_profiles, timed_stages
from .steps import (backbone_train_step, detection_step, eval_step,
                    first_call_seconds, page_faults, saved_activation_bytes,
                    sync, timed, train_step)
from .tables import (print_best_engines, print_kernel_tables,
                     print_op_type_tables, print_rows,
                     print_step_profiles)


class Benchmark:
    """Runs the rows of :class:`BenchmarkSettings` and prints them.

    Example:
        >>> Benchmark(BenchmarkSettings(depths=(50, ), batch=(1, ),
        ...                             rounds=1)).run()  # doctest: +SKIP
    """

    def __init__(self, settings: BenchmarkSettings):
        settings.check()
        self.s = settings
        self.device = torch.device(settings.levers.device)
        #: What every ScaleNet's SA blocks run.
        self.rewrites: SARewrites = settings.rewrites()
        self.layout = (torch.channels_last if settings.levers.channels_last
                       else torch.contiguous_format)
        #: Every judged row's family, by its name (best-engine rows).
        self.families: Dict[str, str] = {}
        #: The rows that ran in bf16 (best against best per precision).
        self.bf16_rows: Set[str] = set()

    def run(self) -> None:
        s = self.s
        torch.backends.cudnn.benchmark = s.levers.cudnn_benchmark
        if s.levers.tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = s.levers.tf32
            torch.backends.cudnn.allow_tf32 = s.levers.tf32
        if s.levers.amp_dtype:
            torch.set_autocast_dtype(self.device.type,
                                     getattr(torch, s.levers.amp_dtype))
        if s.levers.inductor_force_layout:
            # Inductor keeps NCHW for training where a kxk conv shrinks the
            # channels 2x or more (decide_layout_opt), as ScaleNet's branch
            # convs do; this forces its channels-last layout choice.
            import torch._inductor.config as inductor_config
            inductor_config.force_layout_optimization = True
        print(s.device_line())
        if s.output.choose_sa_rewrites:
            # (Here: rewrites.measure times through this package's steps.)
            from ..rewrites.measure import RewriteChoice
            choice = RewriteChoice(s.rows.depths[0], self.device,
                                   s.rows.batch[0], s.rows.train_batch,
                                   s.rows.size, s.levers.amp, s.rows.rounds,
                                   s.rows.warmup, s.levers.channel_multiple,
                                   self.layout).run()
            if s.output.save_sa_rewrites:
                save_choice(choice, s.output.save_sa_rewrites)
            return
        for depth in s.rows.depths:
            self.depth(depth)

    def rewritten(self, models: ModelSet) -> ModelSet:
        """``models`` with their SA blocks running :attr:`rewrites`."""
        for m in models.values():
            apply_rewrites(m.module, self.rewrites)
        return models

    def images(self, batch: int, h: int, w: int) -> torch.Tensor:
        return torch.randn(
            batch, 3, h, w,
            device=self.device).contiguous(memory_format=self.layout)

    def timed_rows(self,
                   title: str,
                   steps: Callable[[], Dict[str, Callable]],
                   models: ModelSet,
                   target: str,
                   best: Optional[Dict[str, float]] = None,
                   label: str = '',
                   optional: bool = False,
                   compiled: bool = False) -> None:
        """Time ``models`` on one engine (``steps`` builds its steps by
        model name) and print its rows, named with ``label``, judged as
        the models are; add them to the best-engine candidates ``best``. An
        ``optional`` engine that fails (a compiler, exporter or graph capture
        refusing a model) is reported in one line; the plain and fused
        rows raise. A ``compiled`` engine also prints its first calls."""
        s = self.s
        try:
            built = steps()
            if compiled:
                first = first_call_seconds(built, self.device)
            times = timed(built, s.rows.rounds, s.rows.warmup, self.device)
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
            print_rows(f'{title}: first call (compilation)', {
                row(n): t
                for n, t in first.items()
            }, 's', 1)
        print_rows(title, {
            row(n): t
            for n, t in times.items()
        }, 'ms', 1e3, target, [row(n) for n in judged_names])
        if best is not None:
            for name in judged_names:
                best[row(name)] = times[name]
                self.families[row(name)] = models[name].family

    def eval_rows(self, depth: int, batch: int, models: ModelSet) -> None:
        """Eval forward rows at one batch size: plain, fused, the
        requested compiled or runtime engines, then the best engine of each
        family."""
        s = self.s
        x = self.images(batch, s.rows.size, s.rows.size)
        best: Dict[str, float] = {}
        head = f'[{depth}] Eval forward, batch {batch}'

        def steps_of(ms: ModelSet, make=None):
            modules = {n: m.module for n, m in ms.items()}
            return lambda: (make(modules) if make else {
                n: eval_step(m, x, s.levers.amp)
                for n, m in modules.items()
            })

        self.timed_rows(f'{head}, {s.rows.size}x{s.rows.size}',
                        steps_of(models), models, 'eval', best)
        fused_models = self.rewritten(fused(models, s.levers.channel_multiple))
        if s.output.profile:
            print_stage_profiles({n: m.module
                                  for n, m in fused_models.items()}, x,
                                 s.rows.rounds, s.rows.warmup, s.levers.amp)
        self.timed_rows(
            f'{head}, conv-BN fused (ResNet: mmcv fuse_conv_bn; ScaleNet: '
            f'switch_to_deploy)', steps_of(fused_models), fused_models,
            'eval_fused', best)
        channels_last = x.contiguous(memory_format=torch.channels_last)
        optional = [
            (s.levers.engines and not s.levers.channels_last,
             'fused, channels-last', 'channels-last', lambda ms: {
                 n:
                 eval_step(
                     copy.deepcopy(m).to(memory_format=torch.channels_last),
                     channels_last, s.levers.amp)
                 for n, m in ms.items()
             }, False),
            (s.levers.onnx
             or s.levers.engines, 'fused, ONNX (opset 17) in onnxruntime',
             'onnxruntime', lambda ms: onnx_steps(ms, x), False),
            *[(s.levers.engines, f'fused, ONNX in OpenVINO (CPU, {precision})',
               f'OpenVINO {precision}',
               lambda ms, p=precision: openvino_steps(ms, x, p), False)
              for precision in (
                  openvino_precisions() if s.levers.engines else [])],
            (s.levers.compile,
             f'fused, torch.compile (mode {s.levers.compile_mode})',
             'torch.compile' if s.levers.compile_mode == 'default' else
             f'torch.compile {s.levers.compile_mode}', lambda ms:
             compiled_steps(ms, x, s.levers.amp, s.levers.compile_mode), True),
            (s.levers.compile_freezing, 'fused, torch.compile with inductor '
             'freezing', 'torch.compile freezing',
             lambda ms: compiled_steps(ms, x, s.levers.amp, freezing=True),
             True),
            (s.levers.jit, 'fused, TorchScript (trace, freeze, '
             'optimize_for_inference)', 'TorchScript frozen',
             lambda ms: jit_frozen_steps(ms, x), False),
            (self.device.type == 'cuda'
             and s.levers.cuda_graphs, 'fused, CUDA graph', 'CUDA graph',
             lambda ms: cuda_graph_steps(ms, x, s.levers.amp), False),
        ]
        for wanted, what, label, make, compiled in optional:
            if wanted:
                self.timed_rows(f'{head}, {what}',
                                steps_of(fused_models, make),
                                fused_models,
                                'eval_fused',
                                best,
                                label,
                                optional=True,
                                compiled=compiled)
                if label.endswith('bf16'):
                    self.bf16_rows.update(n for n in best
                                          if n.endswith(f'({label})'))
        self.print_best(depth, batch, best)

    def print_best(self, depth: int, batch: int,
                   times: Dict[str, float]) -> None:
        """The best engine of each family: in fp32 and, where some rows ran
        in bf16, with bf16 allowed (an --amp run is all one class)."""
        title = (f'[{depth}] Best against best, batch {batch} (each net at '
                 f'its fastest; target: the ScaleNet\'s best at most the '
                 f'ResNet\'s best)')
        bf16 = self.bf16_rows & set(times)
        if not bf16:
            print_best_engines(title, times, self.families)
            return
        print_best_engines(title.replace(' (', ', fp32 (', 1), {
            n: t
            for n, t in times.items() if n not in bf16
        }, self.families)
        print_best_engines(title.replace(' (', ', bf16 allowed (', 1), times,
                           self.families)

    def depth(self, depth: int) -> None:
        s = self.s
        torch.manual_seed(0)
        h, w = s.rows.det_size
        models = self.rewritten(
            classifiers(depth, s.rows.size, s.levers.channel_multiple))
        for m in models.values():
            m.module = m.module.to(self.device,
                                   memory_format=self.layout).eval()
        for batch in ([] if s.rows.skip_eval else s.rows.batch):
            self.eval_rows(depth, batch, models)
        if s.output.kernel_table:
            x = self.images(s.rows.batch[0], s.rows.size, s.rows.size)
            deployed = self.rewritten(fused(models))
            print_kernel_tables(
                kernel_table(
                    {
                        n: eval_step(m.module, x, s.levers.amp)
                        for n, m in deployed.items()
                    }, self.device),
                f'fused eval forward, batch {s.rows.batch[0]}', self.device)
            for precision in (openvino_precisions()
                              if s.levers.engines else []):
                print_op_type_tables(
                    openvino_op_table(
                        {
                            n: m.module
                            for n, m in deployed.items()
                        }, x, precision), f'batch {s.rows.batch[0]}')
        if not s.rows.skip_detection and not s.rows.skip_train:
            self.backbone_training_rows(depth, judged(models))
        if not s.rows.skip_detection:
            print_rows(
                f'[{depth}] Backbone alone (stem and 4 stages), eval, one '
                f'{h}x{w} image', {
                    n: sum(t)
                    for n, t in timed_stages(
                        {
                            n: m.module
                            for n, m in models.items()
                        }, self.images(1, h, w), s.rows.rounds, s.rows.warmup,
                        self.device, s.levers.amp).items()
                }, 'ms', 1e3)
        if not s.rows.skip_train:
            self.training_rows(depth, models)
        del models
        if not s.rows.skip_detection:
            self.detection_rows(depth)

    def backbone_training_rows(self, depth: int, models: ModelSet) -> None:
        s = self.s
        h, w = s.rows.det_size
        backbones = {n: m.module.backbone for n, m in models.items()}
        for b in backbones.values():
            b.train()  # (mmpretrain's ResNet.train() returns None)
        x = self.images(s.rows.det_batch, h, w)
        print_rows(
            f'[{depth}] Backbone forward + backward, {s.rows.det_batch} '
            f'images {h}x{w} (a detector\'s per-GPU batch)',
            timed(
                {
                    n: backbone_train_step(b, x, s.levers.amp)
                    for n, b in backbones.items()
                }, s.rows.rounds, s.rows.warmup, self.device), 'ms', 1e3,
            'train')
        for b in backbones.values():
            b.eval()

    def training_rows(self, depth: int, models: ModelSet) -> None:
        s, device = self.s, self.device
        x = self.images(s.rows.train_batch, s.rows.size, s.rows.size)
        y = torch.randint(0, 1000, (s.rows.train_batch, ), device=device)
        for m in models.values():
            m.module.train()
        steps = {
            n: train_step(m.module, x, y, s.levers.amp)
            for n, m in models.items()
        }
        ours = [n for n, m in models.items() if m.judged]
        title = f'[{depth}] Training step'
        print_rows(
            f'{title} (forward, backward, SGD), batch {s.rows.train_batch}',
            timed(steps, s.rows.rounds, s.rows.warmup, device), 'ms', 1e3,
            'train', ours)
        if s.levers.cuda_graph_train and device.type == 'cuda':
            self.timed_rows(
                f'{title}, batch {s.rows.train_batch}, fp32, whole step '
                f'replayed as a CUDA graph',
                lambda: cuda_graph_train_steps(
                    {n: models[n].module
                     for n in ours}, x, y),
                judged(models),
                'train',
                label='CUDA graph train step',
                optional=True)
        if s.output.kernel_table:
            print_kernel_tables(
                kernel_table({n: steps[n]
                              for n in ours}, device),
                f'training step, batch {s.rows.train_batch}', device)
        if device.type == 'cpu':
            print_rows(
                f'[{depth}] Minor page faults in one training step '
                f'(thousands)', {
                    n: page_faults(st)
                    for n, st in steps.items()
                }, 'k', 1e-3)
        if s.output.profile:
            print_step_profiles({n: steps[n]
                                 for n in ours},
                                f'training step, batch {s.rows.train_batch}')
        print_rows(
            f'[{depth}] Activations saved for backward, batch '
            f'{s.rows.train_batch}', {
                n: float(saved_activation_bytes(m.module, x))
                for n, m in models.items()
            }, 'MiB', 1 / 2**20, 'memory', ours)
        if device.type == 'cuda':
            peaks = {}
            for name, model in models.items():
                step = train_step(model.module, x, y, s.levers.amp)
                torch.cuda.reset_peak_memory_stats(device)
                step()
                sync(device)
                peaks[name] = float(torch.cuda.max_memory_allocated(device))
            print_rows(f'[{depth}] CUDA peak memory, training step', peaks,
                       'MiB', 1 / 2**20, 'memory', ours)

    def detection_rows(self, depth: int) -> None:
        s = self.s
        h, w = s.rows.det_size
        missing = missing_detection_ops()
        if missing:
            print(f'\n[{depth}] Faster R-CNN FPN: not measured ({missing})')
            return
        x = self.images(1, h, w).contiguous()
        dets = self.rewritten(detectors(depth))
        for m in dets.values():
            m.module = m.module.to(self.device)
        # Optional: mmcv's CPU NMS refuses autocast's bfloat16 boxes.
        self.timed_rows(f'[{depth}] Faster R-CNN FPN, eval, one {h}x{w} image',
                        lambda: {
                            n: detection_step(m.module, x, s.levers.amp)
                            for n, m in dets.items()
                        },
                        dets,
                        'detection',
                        optional=True)


__all__ = ['Benchmark']
