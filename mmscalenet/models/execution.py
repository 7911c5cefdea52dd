# Copyright (c) mmscalenet contributors. All rights reserved.
"""Which implementation of the SA block's operators runs on which device.

The SA block has a plain form (the authors' order: pool, conv, upsample,
norm, concatenate) and rewrites that give the same values (to float
rounding). Three were measured to pay on CPUs:

- ``tiled_pooling``: max pooling as reductions over reshaped views, and the
  stem's 3x3/2 pool as element-wise maxima (eager inference,
  channels-first);
- ``buffer_concat``: every scale written straight into its channel slice of
  one output buffer, repeated scales through a broadcast view (eager
  inference);
- ``pooled_norm``: where the upsampling only repeats pixels, the norm runs
  on the pooled map (inference and training);

and two are candidates for GPUs:

- ``parallel_scales``: each scale of a block on its own CUDA stream,
  forked from the current stream and joined before the concatenation
  (:mod:`~mmscalenet.models.scale_streams`; the same operators);
- ``pooled_projection``: in the blocks of the stages it names (0 for
  ``layer1``), the 1x1 conv after the SA block runs per scale on the
  pooled maps of the scales whose upsampling repeats pixels, added back at
  full size by broadcast (:mod:`~mmscalenet.models.pooled_projection`:
  fewer MACs, more memory traffic; 1.5x slower on a CPU).

Which of them a block takes is looked up in :data:`MEASURED_CHOICES`, a
table of measured defaults per device (per CUDA compute capability, and
per the dtype of the block's input: fp32 or AMP's half types), filled from
the runs of ``tools/benchmark.py --choose-sa-paths``, which times every
candidate on the device in one process and prints the row to add. A device
without a row (a GPU architecture no one has measured) takes the plain
form. A table, not a timing at first use as ``cudnn.benchmark`` does,
because the choice then stays the same from run to run and on every rank
of a distributed job (timings on busy ranks could differ, and the paths
differ in float rounding), costs nothing at start-up, and works under
``torch.compile`` and CUDA graph capture, where nothing can be timed; the
price is one measurement per GPU architecture. :func:`forced_sa_paths`
overrides the table (benchmark ablations, tests).
"""
import contextlib
from dataclasses import dataclass, replace
from typing import Dict, Iterator, Optional, Tuple, Union

import torch


@dataclass(frozen=True)
class SAPaths:
    """Which rewrites of the SA block's plain form run (see the module).

    ``pooled_projection`` holds the stage indices (0 for ``layer1``) whose
    blocks take it.
    """
    tiled_pooling: bool
    buffer_concat: bool
    pooled_norm: bool
    parallel_scales: bool = False
    pooled_projection: Tuple[int, ...] = ()


#: The authors' order.
PLAIN = SAPaths(tiled_pooling=False, buffer_concat=False, pooled_norm=False)
#: Every rewrite measured to pay on CPUs.
CPU_TUNED = SAPaths(tiled_pooling=True, buffer_concat=True, pooled_norm=True)
#: The plain form with the scales on parallel CUDA streams (CPU tensors
#: run it as the plain form).
CUDA_STREAMS = SAPaths(
    tiled_pooling=False,
    buffer_concat=False,
    pooled_norm=False,
    parallel_scales=True)
#: The plain form with the 1x1 conv after the SA block on the pooled maps
#: in every stage.
POOLED_PROJECTION = SAPaths(
    tiled_pooling=False,
    buffer_concat=False,
    pooled_norm=False,
    pooled_projection=(0, 1, 2, 3))
#: Names :func:`forced_sa_paths` and ``tools/benchmark.py --sa-paths`` take.
NAMED_PATHS = {
    'cpu-tuned': CPU_TUNED,
    'plain': PLAIN,
    'cuda-streams': CUDA_STREAMS,
    'pooled-projection': POOLED_PROJECTION,
}


@dataclass(frozen=True)
class MeasuredChoice:
    """One row of :data:`MEASURED_CHOICES`: the paths a device takes, and
    the measurement that chose them.

    Attributes:
        device_type (str): ``'cpu'`` or ``'cuda'``.
        capability (tuple[int, int], optional): The CUDA compute capability
            (``(9, 0)`` for Hopper); None matches any.
        dtype (torch.dtype, optional): The dtype of the SA block's input
            (``torch.float16`` under CUDA's AMP); None matches any.
        paths (SAPaths): What such a block runs.
        measured (str): The run that chose it: machine, command, date and
            the times that decided.
    """
    device_type: str
    capability: Optional[Tuple[int, int]]
    dtype: Optional[torch.dtype]
    paths: SAPaths
    measured: str

    def matches(self, device_type: str,
                capability: Optional[Tuple[int, int]],
                dtype: torch.dtype) -> bool:
        return self.device_type == device_type and \
            self.capability in (None, capability) and \
            self.dtype in (None, dtype)


#: The measured defaults, most specific first: a device takes the paths of
#: the first row that matches it, the plain form where none does. Each row
#: is as ``tools/benchmark.py --choose-sa-paths`` printed it (its runs are
#: in docs/benchmarks.md); the H100's predates that tool and now answers
#: only for the dtypes the H200's rows do not (float16).
MEASURED_CHOICES = (
    MeasuredChoice(
        device_type='cuda',
        capability=(9, 0),
        dtype=torch.float32,
        paths=PLAIN,
        measured='NVIDIA H200, torch 2.11.0+cu130, 2026-12-04, '
        'tools/benchmark.py --choose-sa-paths: ScaleNet-50 (TF32) eval '
        'batch 16 plain 9.5 ms, chosen 9.5 ms; training step batch 32 plain '
        '37.0 ms, chosen 37.0 ms (cuda-streams 10.7 and 33.9 ms, '
        'pooled-projection 1.01-1.06x eval in every stage: both lost)'),
    MeasuredChoice(
        device_type='cuda',
        capability=(9, 0),
        dtype=torch.bfloat16,
        paths=PLAIN,
        measured='NVIDIA H200, torch 2.11.0+cu130, 2026-12-04, '
        'tools/benchmark.py --choose-sa-paths: ScaleNet-50 eval batch 16 '
        'plain 11.5 ms, chosen 11.5 ms; training step batch 32 plain 36.4 '
        'ms, chosen 36.4 ms (cuda-streams 13.4 and 34.6 ms, '
        'pooled-projection 1.01-1.05x eval in every stage: both lost)'),
    MeasuredChoice(
        'cuda', (9, 0), None, PLAIN,
        'NVIDIA H100 80GB HBM3, torch 2.11.0+cu130, 2026-11-26 '
        '(docs/benchmarks.md, first section): ScaleNet-50 eval forward, '
        'fp32, eager, batch 16: the CPU rewrites 15.0 ms, the plain order '
        "(the authors' sequence) 11.9 ms; batch 1: 17.1 against 12.2 ms. "
        'The GPU candidates (cuda-streams, pooled-projection) not yet '
        'timed'),
    MeasuredChoice(
        device_type='cpu',
        capability=None,
        dtype=torch.float32,
        paths=CPU_TUNED,
        measured='CPU, 2 threads, torch 2.14.1+cu130, 2026-12-04, '
        'tools/benchmark.py --choose-sa-paths: ScaleNet-50 eval batch 16 '
        'plain 599.8 ms, chosen 500.6 ms; training step batch 16 plain '
        '1771.4 ms, chosen 1758.0 ms'),
    MeasuredChoice(
        device_type='cpu',
        capability=None,
        dtype=torch.bfloat16,
        paths=CPU_TUNED,
        measured='CPU, 2 threads, torch 2.14.1+cu130, 2026-12-04, '
        'tools/benchmark.py --choose-sa-paths: ScaleNet-50 eval batch 16 '
        'plain 417.1 ms, chosen 332.3 ms; training step batch 16 plain '
        '1141.7 ms, chosen 1115.4 ms'),
)

_forced: Optional[SAPaths] = None


#: The paths chosen so far, by (device type, device index, dtype): a dict
#: lookup per block call (which torch.compile traces without a break).
_chosen: Dict[Tuple[str, Optional[int], torch.dtype], SAPaths] = {}


def measured_choice(device: torch.device,
                    dtype: torch.dtype) -> Optional[MeasuredChoice]:
    """The row of :data:`MEASURED_CHOICES` that ``device`` takes for an
    input of ``dtype`` (None: no row; the plain form runs)."""
    capability = None
    if device.type == 'cuda' and torch.cuda.is_available():
        capability = torch.cuda.get_device_capability(device)
    for choice in MEASURED_CHOICES:
        if choice.matches(device.type, capability, dtype):
            return choice
    return None


def sa_paths(device: torch.device,
             dtype: torch.dtype = torch.float32) -> SAPaths:
    """The rewrites that run on ``device`` for an input of ``dtype``.

    Example:
        >>> sa_paths(torch.device('cpu')).tiled_pooling
        True
        >>> sa_paths(torch.device('cuda', 0), torch.float16).buffer_concat
        False
    """
    if _forced is not None:
        return _forced
    key = (device.type, device.index, dtype)
    paths = _chosen.get(key)
    if paths is None:
        choice = measured_choice(device, dtype)
        paths = _chosen[key] = PLAIN if choice is None else choice.paths
    return paths


@contextlib.contextmanager
def forced_sa_paths(paths: Union[str, SAPaths]) -> Iterator[SAPaths]:
    """Run every SA block with ``paths`` (a :class:`SAPaths` or a name of
    :data:`NAMED_PATHS`) on every device inside the ``with``.

    Example:
        >>> with forced_sa_paths('plain'):
        ...     sa_paths(torch.device('cpu')).pooled_norm
        False
    """
    global _forced
    if isinstance(paths, str):
        if paths not in NAMED_PATHS:
            raise ValueError(f'SA paths must be one of {sorted(NAMED_PATHS)},'
                             f' got {paths!r}')
        paths = NAMED_PATHS[paths]
    previous, _forced = _forced, paths
    try:
        yield paths
    finally:
        _forced = previous


def describe(paths: SAPaths) -> str:
    """``paths`` by the names :data:`NAMED_PATHS` gives them, else as the
    rewrites they run.

    Example:
        >>> describe(CPU_TUNED)
        'cpu-tuned'
        >>> from dataclasses import replace
        >>> describe(replace(CUDA_STREAMS, pooled_projection=(0, 1)))
        'cuda-streams + pooled_projection (layer1, layer2)'
        >>> describe(replace(PLAIN, pooled_norm=True))
        'pooled_norm'
    """
    for name, named in NAMED_PATHS.items():
        if named == paths:
            return name
    if paths.pooled_projection:
        layers = ', '.join(f'layer{s + 1}' for s in paths.pooled_projection)
        return f'{describe(replace(paths, pooled_projection=()))} + ' \
            f'pooled_projection ({layers})'
    return ' + '.join(
        name for name in ('tiled_pooling', 'buffer_concat', 'pooled_norm',
                          'parallel_scales') if getattr(paths, name))
