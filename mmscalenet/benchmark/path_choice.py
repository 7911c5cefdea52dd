# Copyright (c) mmscalenet contributors. All rights reserved.
"""A device's SA paths chosen by timing them (``tools/benchmark.py
--choose-sa-paths``).

The row of :data:`~mmscalenet.models.execution.MEASURED_CHOICES` for the
device the benchmark runs on, from one process: ScaleNet (a classifier on
the published structure) under every candidate path, each first checked to
give the plain path's outputs, then timed in interleaved rounds, eval
forward and training step:

1. the whole-net candidates (the plain order, the CPU's rewrites and, on a
   GPU, the parallel CUDA streams); the fastest wins;
2. on top of the winner, the 1x1 conv on the pooled maps
   (``pooled_projection``) in one stage at a time; each stage that is
   faster with it keeps it;
3. the choice timed again with the winner of 1 and the plain order: a
   per-stage addition that does not beat that winner again is dropped, a
   winner that does not beat the plain order again too.

A candidate beats its reference when the geometric mean of its two time
ratios (eval, training) is below ``1 - margin`` and neither ratio is above
``1 +`` :data:`MODE_LOSS`: a choice must pay, and must not trade one mode
for the other. It prints the times, the verdicts and the row to add to
``execution.py``.
"""
import datetime
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..analysis.equivalence import path_candidates, relative_error
from ..fileio import write_atomically
from ..models import ScaleNet
from ..models.execution import (NAMED_PATHS, PLAIN, MeasuredChoice, SAPaths,
                                describe, forced_sa_paths)
from .models import Classifier
from .steps import eval_step, timed, train_step

#: The largest relative error (2-norm) of a candidate's fp32 eval outputs
#: against the plain path's (TF32 off while they are compared).
TOLERANCE = 1e-4


@dataclass
class PathTimes:
    """Median seconds of one candidate's eval forward and training step."""
    eval: float
    train: float

    def ratios(self, reference: 'PathTimes') -> Tuple[float, float]:
        return self.eval / reference.eval, self.train / reference.train


#: How much slower than its reference a candidate may be in one mode (eval
#: or training) and still be chosen for the other: above the noise of one
#: median on a busy CPU, below what a user would notice.
MODE_LOSS = 0.05


def beats(times: PathTimes, reference: PathTimes, margin: float) -> bool:
    """Whether ``times`` beats ``reference`` (see the module).

    Example:
        >>> beats(PathTimes(0.9, 1.0), PathTimes(1.0, 1.0), 0.02)
        True
        >>> beats(PathTimes(0.7, 1.1), PathTimes(1.0, 1.0), 0.02)
        False
    """
    ratios = times.ratios(reference)
    mean = math.sqrt(ratios[0] * ratios[1])
    return mean < 1 - margin and max(ratios) <= 1 + MODE_LOSS


def fastest(times: Dict[SAPaths, PathTimes], reference: SAPaths,
            margin: float) -> SAPaths:
    """The candidate of ``times`` with the lowest geometric-mean ratio to
    ``reference`` among those that beat it; ``reference`` if none does."""
    winners = [p for p in times if p != reference
               and beats(times[p], times[reference], margin)]
    if not winners:
        return reference
    return min(winners,
               key=lambda p: math.prod(times[p].ratios(times[reference])))


class SAPathChoice:
    """Times the SA path candidates on one device and chooses (see the
    module).

    Args:
        depth (int): ScaleNet's depth.
        device (torch.device): Where to measure.
        batch (int): Batch of the eval forward.
        train_batch (int): Batch of the training step.
        size (int): Image side.
        amp (bool): Under autocast (the row is then for its dtype).
        rounds (int): Interleaved rounds; medians are kept.
        warmup (int): Untimed calls of each step first.
        channel_multiple (int): Build ScaleNet padded to this.
        layout (torch.memory_format): Of the model and its inputs.
        margin (float): How much a candidate must pay. Defaults to 0.02.

    Example:
        >>> choice = SAPathChoice(50, torch.device('cpu'), batch=2,
        ...                       train_batch=2, size=64, amp=False,
        ...                       rounds=1, warmup=0)  # doctest: +SKIP
        >>> choice.run().paths  # doctest: +SKIP
        SAPaths(tiled_pooling=True, ...)
    """

    def __init__(self,
                 depth: int,
                 device: torch.device,
                 batch: int,
                 train_batch: int,
                 size: int,
                 amp: bool,
                 rounds: int,
                 warmup: int,
                 channel_multiple: int = 1,
                 layout: torch.memory_format = torch.contiguous_format,
                 margin: float = 0.02):
        self.depth, self.device, self.amp = depth, device, amp
        self.rounds, self.warmup, self.margin = rounds, warmup, margin
        torch.manual_seed(0)
        backbone = ScaleNet(
            depth,
            f'scalenet{depth}',
            out_indices=(3, ),
            channel_multiple=channel_multiple)
        self.model = Classifier(backbone).to(device, memory_format=layout)
        self.num_stages = backbone.num_stages
        self.x = torch.randn(batch, 3, size, size,
                             device=device).contiguous(memory_format=layout)
        self.train_x = torch.randn(
            train_batch, 3, size, size,
            device=device).contiguous(memory_format=layout)
        self.y = torch.randint(0, 1000, (train_batch, ), device=device)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the SA blocks' inputs: autocast's, or fp32."""
        if not self.amp:
            return torch.float32
        return torch.get_autocast_dtype(self.device.type)

    def equal_outputs(self, paths: SAPaths) -> float:
        """Relative error of the eval outputs under ``paths`` against the
        plain path's (fp32, TF32 off)."""
        tf32 = (torch.backends.cudnn.allow_tf32,
                torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        self.model.eval()
        try:
            with torch.no_grad():
                with forced_sa_paths(PLAIN):
                    plain = self.model(self.x)
                with forced_sa_paths(paths):
                    return relative_error(self.model(self.x), plain)
        finally:
            (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32) = tf32

    def time(self, candidates: Sequence[SAPaths]) -> Dict[SAPaths, PathTimes]:
        """Eval forward and training step of each candidate, interleaved."""

        def under(paths: SAPaths, step: Callable[[], None]):

            def forced_step():
                with forced_sa_paths(paths):
                    step()

            return forced_step

        self.model.eval()
        evals = timed({p: under(p, eval_step(self.model, self.x, self.amp))
                       for p in candidates}, self.rounds, self.warmup,
                      self.device)
        self.model.train()
        trains = timed({p: under(p, train_step(self.model, self.train_x,
                                               self.y, self.amp))
                        for p in candidates}, self.rounds, self.warmup,
                       self.device)
        return {p: PathTimes(evals[p], trains[p]) for p in candidates}

    def run(self) -> MeasuredChoice:
        """Check, time, choose, confirm and print; the chosen row."""
        print(f'\nSA paths chosen for this device: ScaleNet-{self.depth}, '
              f'eval batch {self.x.shape[0]}, training step batch '
              f'{self.train_x.shape[0]}, {self.dtype}; a candidate must '
              f'beat its reference by {self.margin:.0%} (geometric mean of '
              f'the eval and training ratios), neither worse by more than '
              f'{MODE_LOSS:.0%}')
        candidates = [PLAIN] + path_candidates(self.device)
        whole_net = self.checked(
            [p for p in candidates if not p.pooled_projection])
        times = self.time(whole_net)
        whole_best = best = fastest(times, PLAIN, self.margin)
        self.print_times('1. whole-net paths (ratios to plain)', times, PLAIN)
        if any(p.pooled_projection for p in candidates):
            per_stage = self.checked([best] + [
                replace(best, pooled_projection=(stage, ))
                for stage in range(self.num_stages)
            ])
            stage_times = self.time(per_stage)
            self.print_times(
                f'2. the 1x1 conv on the pooled maps, one stage at a time, '
                f'on {describe(best)} (ratios to it)', stage_times, best)
            best = replace(
                best,
                pooled_projection=tuple(
                    p.pooled_projection[0] for p in per_stage[1:]
                    if beats(stage_times[p], stage_times[best], self.margin)))
        final = {PLAIN: times[PLAIN]}
        if best != PLAIN:
            final = self.time(
                self.checked(list(dict.fromkeys([PLAIN, whole_best, best]))))
            self.print_times(
                '3. the choice, the winner of 1 and plain, timed again '
                '(ratios to plain)', final, PLAIN)
            for reference in (whole_best, PLAIN):
                if best == reference:
                    continue
                if best not in final or not beats(final[best],
                                                  final[reference],
                                                  self.margin):
                    print(f'  {describe(best)} does not beat '
                          f'{describe(reference)} in this timing: '
                          f'{describe(reference)} it is')
                    best = reference
        choice = self.measured_choice(best, final[PLAIN], final[best])
        print(f'  chosen: {describe(best)}')
        print('  the row for MEASURED_CHOICES in '
              'mmscalenet/models/execution.py:')
        print(f'    {source_row(choice)},')
        return choice

    def checked(self, candidates: Sequence[SAPaths]) -> List[SAPaths]:
        """The candidates whose outputs equal the plain path's; the others
        named in one line each."""
        kept = []
        for paths in candidates:
            error = self.equal_outputs(paths)
            if error <= TOLERANCE:
                kept.append(paths)
            else:
                print(f'  {describe(paths)}: outputs differ from the plain '
                      f'path (relative error {error:.1e}): not a candidate')
        return kept

    def print_times(self, title: str, times: Dict[SAPaths, PathTimes],
                    reference: SAPaths) -> None:
        print(f'  {title}:')
        for paths, t in times.items():
            e, r = t.ratios(times[reference])
            verdict = '' if paths == reference else (
                '  beats it' if beats(t, times[reference], self.margin) else
                '')
            print(f'    {describe(paths):<52} eval {t.eval * 1e3:8.1f} ms '
                  f'{e:6.3f}x   train {t.train * 1e3:8.1f} ms {r:6.3f}x'
                  f'{verdict}')

    def measured_choice(self, paths: SAPaths, plain: PathTimes,
                        chosen: PathTimes) -> MeasuredChoice:
        """The row: this device, the dtype, the paths, and the run."""
        device = self.device
        if device.type == 'cuda':
            name = torch.cuda.get_device_name(device)
            capability: Optional[Tuple[int, int]] = \
                torch.cuda.get_device_capability(device)
        else:
            name, capability = f'CPU, {torch.get_num_threads()} threads', \
                None
        tf32 = ' (TF32)' if device.type == 'cuda' and \
            torch.backends.cudnn.allow_tf32 and not self.amp else ''
        measured = (
            f'{name}, torch {torch.__version__}, {datetime.date.today()}, '
            f'tools/benchmark.py --choose-sa-paths: ScaleNet-{self.depth}'
            f'{tf32} eval batch {self.x.shape[0]} plain '
            f'{plain.eval * 1e3:.1f} ms, chosen {chosen.eval * 1e3:.1f} ms; '
            f'training step batch {self.train_x.shape[0]} plain '
            f'{plain.train * 1e3:.1f} ms, chosen {chosen.train * 1e3:.1f} ms')
        return MeasuredChoice(device.type, capability, self.dtype, paths,
                              measured)


def source_row(choice: MeasuredChoice) -> str:
    """``choice`` as the Python of a row of ``MEASURED_CHOICES`` (its paths
    by their constant's name in ``execution.py`` where they have one).

    Example:
        >>> source_row(MeasuredChoice('cpu', None, torch.float32, PLAIN,
        ...                           'a run'))
        "MeasuredChoice(device_type='cpu', capability=None, dtype=torch.float32, paths=PLAIN, measured='a run')"
    """  # noqa: E501
    paths = repr(choice.paths)
    for name, named in NAMED_PATHS.items():
        if named == choice.paths:
            paths = name.upper().replace('-', '_')
    return (f'MeasuredChoice(device_type={choice.device_type!r}, '
            f'capability={choice.capability!r}, dtype={choice.dtype}, '
            f'paths={paths}, measured={choice.measured!r})')


def save_choice(choice: MeasuredChoice, path: str) -> None:
    """Write ``choice`` as JSON (its paths, and its row as Python), for
    ``tools/benchmark.py --sa-paths FILE`` and for the record."""
    write_atomically(
        path,
        json.dumps(
            dict(paths=asdict(choice.paths), row=source_row(choice)),
            indent=2) +
        '\n')


def load_chosen_paths(path: str) -> SAPaths:
    """The paths of a choice :func:`save_choice` wrote; a ``ValueError``
    naming the file if it holds none.

    Example:
        >>> load_chosen_paths('sa-paths-fp32.json')  # doctest: +SKIP
        SAPaths(tiled_pooling=False, ..., pooled_projection=(0, 1))
    """
    names = {f.name for f in fields(SAPaths)}
    try:
        with open(path) as f:
            paths = json.load(f)['paths']
        if set(paths) != names:
            raise ValueError(f'fields {sorted(paths)}')
        return SAPaths(**dict(paths, pooled_projection=tuple(
            int(s) for s in paths['pooled_projection'])))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f'{path} holds no SA paths saved by '
                         f'--choose-sa-paths ({type(error).__name__}: '
                         f'{error})') from None


__all__ = [
    'PathTimes', 'SAPathChoice', 'beats', 'fastest', 'load_chosen_paths',
    'save_choice', 'source_row'
]
