# Copyright (c) mmscalenet contributors. All rights reserved.
"""A device's SA rewrites chosen by timing them (``tools/benchmark.py
--choose-sa-rewrites``).

The row of :data:`~mmscalenet.rewrites.MEASURED_CHOICES` for the device the
benchmark runs on, from one process: ScaleNet (a classifier on the
published structure, in the layout given: the fastest PyTorch path on the
device is the one to measure) under every named rewrite that can run there,
each first checked to give the plain order's outputs, then timed in
interleaved rounds, eval forward and training step:

1. every candidate against the plain order; the fastest that beats it wins;
2. the winner and the plain order timed again: a winner that does not beat
   the plain order again is dropped.

A candidate beats its reference when the geometric mean of its two time
ratios (eval, training) is below ``1 - margin`` and neither ratio is above
``1 +`` :data:`MODE_LOSS`: a choice must pay, and must not trade one mode
for the other. It prints the times, the verdicts and the row to add to
``mmscalenet/rewrites/choice.py``.
"""
import datetime
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..analysis.equivalence import relative_error
from ..benchmark.models import Classifier
from ..benchmark.steps import eval_step, timed, train_step
from ..models import ScaleNet
from .blocks import apply_rewrites
from .choice import (PLAIN, MeasuredChoice, SARewrites, candidates,
                     describe, source_row)

#: The largest relative error (2-norm) of a candidate's fp32 eval outputs
#: against the plain order's (TF32 off while they are compared).
TOLERANCE = 1e-4


@dataclass
class RewriteTimes:
    """Median seconds of one candidate's eval forward and training step."""
    eval: float
    train: float

    def ratios(self, reference: 'RewriteTimes') -> Tuple[float, float]:
        return self.eval / reference.eval, self.train / reference.train


#: How much slower than its reference a candidate may be in one mode (eval
#: or training) and still be chosen for the other: above the noise of one
#: median on a busy CPU, below what a user would notice.
MODE_LOSS = 0.05


def beats(times: RewriteTimes, reference: RewriteTimes, margin: float) -> bool:
    """Whether ``times`` beats ``reference`` (see the module).

    Example:
        >>> beats(RewriteTimes(0.9, 1.0), RewriteTimes(1.0, 1.0), 0.02)
        True
        >>> beats(RewriteTimes(0.7, 1.1), RewriteTimes(1.0, 1.0), 0.02)
        False
    """
    ratios = times.ratios(reference)
    mean = math.sqrt(ratios[0] * ratios[1])
    return mean < 1 - margin and max(ratios) <= 1 + MODE_LOSS


def fastest(times: Dict[SARewrites, RewriteTimes], reference: SARewrites,
            margin: float) -> SARewrites:
    """The candidate of ``times`` with the lowest geometric-mean ratio to
    ``reference`` among those that beat it; ``reference`` if none does."""
    winners = [p for p in times if p != reference
               and beats(times[p], times[reference], margin)]
    if not winners:
        return reference
    return min(winners,
               key=lambda p: math.prod(times[p].ratios(times[reference])))


class RewriteChoice:
    """Times the SA rewrites on one device and chooses (see the module).

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
        >>> choice = RewriteChoice(50, torch.device('cpu'), batch=2,
        ...                        train_batch=2, size=64, amp=False,
        ...                        rounds=1, warmup=0)  # doctest: +SKIP
        >>> choice.run().rewrites  # doctest: +SKIP
        SARewrites(tiled_pooling=False, ...)
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
        self.layout_name = ('channels-last' if layout == torch.channels_last
                            else 'NCHW')
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

    def equal_outputs(self, rewrites: SARewrites) -> float:
        """Relative error of the eval outputs under ``rewrites`` against the
        plain order's (fp32, TF32 off)."""
        tf32 = (torch.backends.cudnn.allow_tf32,
                torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        self.model.eval()
        try:
            with torch.no_grad():
                plain = apply_rewrites(self.model, PLAIN)(self.x)
                rewritten = apply_rewrites(self.model, rewrites)(self.x)
                return relative_error(rewritten, plain)
        finally:
            (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32) = tf32

    def time(self, candidates: Sequence[SARewrites]
             ) -> Dict[SARewrites, RewriteTimes]:
        """Eval forward and training step of each candidate, interleaved."""

        def under(rewrites: SARewrites, step: Callable[[], None]):

            def rewritten_step():
                apply_rewrites(self.model, rewrites)
                step()

            return rewritten_step

        self.model.eval()
        evals = timed({r: under(r, eval_step(self.model, self.x, self.amp))
                       for r in candidates}, self.rounds, self.warmup,
                      self.device)
        self.model.train()
        trains = timed({r: under(r, train_step(self.model, self.train_x,
                                               self.y, self.amp))
                        for r in candidates}, self.rounds, self.warmup,
                       self.device)
        return {r: RewriteTimes(evals[r], trains[r]) for r in candidates}

    def run(self) -> MeasuredChoice:
        """Check, time, choose, confirm and print; the chosen row."""
        print(f'\nSA rewrites chosen for this device: '
              f'ScaleNet-{self.depth}, eval batch {self.x.shape[0]}, '
              f'training step batch {self.train_x.shape[0]}, {self.dtype}, '
              f'{self.layout_name}; a candidate must beat the plain order '
              f'by {self.margin:.0%} (geometric mean of the eval and '
              f'training ratios), neither worse by more than '
              f'{MODE_LOSS:.0%}')
        times = self.time(self.checked([PLAIN] + candidates(self.device)))
        best = fastest(times, PLAIN, self.margin)
        self.print_times('1. every rewrite (ratios to plain)', times)
        final = {PLAIN: times[PLAIN]}
        if best != PLAIN:
            final = self.time([PLAIN, best])
            self.print_times('2. the winner and plain, timed again (ratios '
                             'to plain)', final)
            if not beats(final[best], final[PLAIN], self.margin):
                print(f'  {describe(best)} does not beat plain in this '
                      f'timing: plain it is')
                best = PLAIN
        apply_rewrites(self.model, PLAIN)
        choice = self.measured_choice(best)
        print(f'  chosen: {describe(best)}')
        print('  the row for MEASURED_CHOICES in '
              'mmscalenet/rewrites/choice.py:')
        print(f'    {source_row(choice)},')
        return choice

    def checked(self, candidates: Sequence[SARewrites]
                ) -> List[SARewrites]:
        """The candidates whose outputs equal the plain order's; the others
        named in one line each."""
        kept = []
        for rewrites in candidates:
            error = self.equal_outputs(rewrites)
            if error <= TOLERANCE:
                kept.append(rewrites)
            else:
                print(f'  {describe(rewrites)}: outputs differ from the plain '
                      f'order (relative error {error:.1e}): not a candidate')
        return kept

    def print_times(self, title: str,
                    times: Dict[SARewrites, RewriteTimes]) -> None:
        print(f'  {title}:')
        for rewrites, t in times.items():
            e, r = t.ratios(times[PLAIN])
            verdict = '  beats it' if rewrites != PLAIN and beats(
                t, times[PLAIN], self.margin) else ''
            print(f'    {describe(rewrites):<40} eval {t.eval * 1e3:8.1f} ms '
                  f'{e:6.3f}x   train {t.train * 1e3:8.1f} ms {r:6.3f}x'
                  f'{verdict}')

    def measured_choice(self, rewrites: SARewrites) -> MeasuredChoice:
        """The row: this device, the dtype, the rewrites, and the run (its
        times are in the printed output, for docs/benchmarks.md)."""
        device = self.device
        if device.type == 'cuda':
            name = torch.cuda.get_device_name(device)
            capability: Optional[Tuple[int, int]] = \
                torch.cuda.get_device_capability(device)
        else:
            name, capability = f'CPU, {torch.get_num_threads()} threads', \
                None
        measured = (f'{name}, torch {torch.__version__}, '
                    f'{datetime.date.today()}, {self.layout_name}')
        return MeasuredChoice(device.type, capability, self.dtype, rewrites,
                              measured)


__all__ = ['RewriteTimes', 'RewriteChoice', 'beats', 'fastest']
