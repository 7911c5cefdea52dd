# Copyright (c) mmscalenet contributors. All rights reserved.
"""The SA block's rewrites, by name, and the measured choice per device.

A :class:`SARewrites` says which rewrites of the authors' order an SA block
runs (``plain`` is none). :data:`MEASURED_CHOICES` holds, per device and
input dtype, the rewrites that ``tools/benchmark.py --choose-sa-rewrites``
measured to pay on ScaleNet's fastest PyTorch path there; a device without
a row takes none. Why a table and not a timing at first use:
``docs/speed.md``, "Rewrites".
"""
import json
from dataclasses import asdict, dataclass, fields
from typing import Optional, Tuple, Union

import torch

from ..fileio import write_atomically


@dataclass(frozen=True)
class SARewrites:
    """Which exact rewrites of the authors' order an SA block runs.

    Attributes:
        tiled_pooling (bool): Max pooling as reductions over reshaped views,
            each scale pooled from the coarsest map already pooled (eager
            inference, channels-first maps).
        buffer_concat (bool): Every scale written into its channel slice of
            one buffer, repeated scales through a broadcast view (eager
            inference).
        pooled_norm (bool): Where the upsampling only repeats pixels, the
            norm on the pooled map.
        parallel_scales (bool): Each scale on its own CUDA stream.
    """
    tiled_pooling: bool = False
    buffer_concat: bool = False
    pooled_norm: bool = False
    parallel_scales: bool = False


#: The authors' order.
PLAIN = SARewrites()
#: Every rewrite written for CPUs.
CPU_TUNED = SARewrites(tiled_pooling=True, buffer_concat=True,
                       pooled_norm=True)
#: The authors' order with the scales on parallel CUDA streams.
CUDA_STREAMS = SARewrites(parallel_scales=True)
#: Names ``tools/benchmark.py --sa-rewrites`` and :func:`as_rewrites` take.
NAMED_REWRITES = {
    'plain': PLAIN,
    'cpu-tuned': CPU_TUNED,
    'pooled-norm': SARewrites(pooled_norm=True),
    'cuda-streams': CUDA_STREAMS,
}


def as_rewrites(rewrites: Union[str, SARewrites]) -> SARewrites:
    """``rewrites``, or the :class:`SARewrites` of that name.

    Example:
        >>> as_rewrites('pooled-norm').pooled_norm
        True
    """
    if isinstance(rewrites, SARewrites):
        return rewrites
    if rewrites not in NAMED_REWRITES:
        raise ValueError(f'SA rewrites must be one of '
                         f'{sorted(NAMED_REWRITES)}, got {rewrites!r}')
    return NAMED_REWRITES[rewrites]


def candidates(device: torch.device) -> list:
    """The named rewrites other than ``plain`` that run on ``device``: the
    CUDA streams only on a GPU.

    Example:
        >>> [describe(r) for r in candidates(torch.device('cpu'))]
        ['cpu-tuned', 'pooled-norm']
    """
    return [
        r for r in NAMED_REWRITES.values()
        if r != PLAIN and (device.type == 'cuda' or not r.parallel_scales)
    ]


def describe(rewrites: SARewrites) -> str:
    """``rewrites`` by its name, else as the rewrites it runs.

    Example:
        >>> describe(CPU_TUNED)
        'cpu-tuned'
        >>> describe(SARewrites(buffer_concat=True, pooled_norm=True))
        'buffer_concat + pooled_norm'
    """
    for name, named in NAMED_REWRITES.items():
        if named == rewrites:
            return name
    return ' + '.join(name for name in ('tiled_pooling', 'buffer_concat',
                                        'pooled_norm', 'parallel_scales')
                      if getattr(rewrites, name))


@dataclass(frozen=True)
class MeasuredChoice:
    """One row of :data:`MEASURED_CHOICES`.

    Attributes:
        device_type (str): ``'cpu'`` or ``'cuda'``.
        capability (tuple[int, int], optional): The CUDA compute capability
            (``(9, 0)`` for Hopper); None matches any.
        dtype (torch.dtype, optional): The dtype of the SA block's input
            (``torch.bfloat16`` under AMP); None matches any.
        rewrites (SARewrites): What such a block runs.
        measured (str): The run that chose it (docs/benchmarks.md).
    """
    device_type: str
    capability: Optional[Tuple[int, int]]
    dtype: Optional[torch.dtype]
    rewrites: SARewrites
    measured: str

    def matches(self, device_type: str,
                capability: Optional[Tuple[int, int]],
                dtype: torch.dtype) -> bool:
        return self.device_type == device_type and \
            self.capability in (None, capability) and \
            self.dtype in (None, dtype)


#: The measured choices, most specific first: a device takes the first row
#: that matches it, :data:`PLAIN` where none does. Each row is as
#: ``tools/benchmark.py --choose-sa-rewrites`` printed it; the runs are in
#: docs/benchmarks.md under the machine, date and layout each row names
#: (the H100's predates the tool: the first section).
MEASURED_CHOICES = (
    MeasuredChoice(
        device_type='cuda', capability=(9, 0), dtype=torch.float32,
        rewrites=PLAIN,
        measured='NVIDIA H200, torch 2.11.0+cu130, 2026-12-04, NCHW'),
    MeasuredChoice(
        device_type='cuda', capability=(9, 0), dtype=torch.bfloat16,
        rewrites=PLAIN,
        measured='NVIDIA H200, torch 2.11.0+cu130, 2026-12-04, NCHW'),
    MeasuredChoice(
        device_type='cuda', capability=(9, 0), dtype=None, rewrites=PLAIN,
        measured='NVIDIA H100 80GB HBM3, torch 2.11.0+cu130, 2026-11-26, '
        'NCHW'),
    MeasuredChoice(
        device_type='cpu', capability=None, dtype=torch.float32,
        rewrites=CPU_TUNED,
        measured='CPU, 2 threads, torch 2.14.1+cu130, 2026-12-04, '
        'channels-last'),
    MeasuredChoice(
        device_type='cpu', capability=None, dtype=torch.bfloat16,
        rewrites=PLAIN,
        measured='CPU, 2 threads, torch 2.14.1+cu130, 2026-12-04, '
        'channels-last'),
)


def measured_choice(device: torch.device,
                    dtype: torch.dtype) -> Optional[MeasuredChoice]:
    """The row of :data:`MEASURED_CHOICES` that ``device`` takes for an
    input of ``dtype`` (None: no row).

    Example:
        >>> measured_choice(torch.device('cpu'), torch.bfloat16).rewrites
        SARewrites(tiled_pooling=False, buffer_concat=False, \
pooled_norm=False, parallel_scales=False)
    """
    capability = None
    if device.type == 'cuda' and torch.cuda.is_available():
        capability = torch.cuda.get_device_capability(device)
    for choice in MEASURED_CHOICES:
        if choice.matches(device.type, capability, dtype):
            return choice
    return None


def measured_rewrites(device: torch.device,
                      dtype: torch.dtype = torch.float32) -> SARewrites:
    """The rewrites measured to pay on ``device`` for ``dtype`` inputs.

    Example:
        >>> describe(measured_rewrites(torch.device('cpu')))
        'cpu-tuned'
    """
    choice = measured_choice(device, dtype)
    return PLAIN if choice is None else choice.rewrites


def source_row(choice: MeasuredChoice) -> str:
    """``choice`` as the Python of a row of ``MEASURED_CHOICES`` (its
    rewrites by their constant's name in ``choice.py`` where they have
    one).

    Example:
        >>> source_row(MeasuredChoice('cpu', None, torch.float32, PLAIN,
        ...                           'a run'))
        "MeasuredChoice(device_type='cpu', capability=None, dtype=torch.float32, rewrites=PLAIN, measured='a run')"
    """  # noqa: E501
    rewrites = repr(choice.rewrites)
    for name in ('plain', 'cpu-tuned', 'cuda-streams'):
        if NAMED_REWRITES[name] == choice.rewrites:
            rewrites = name.upper().replace('-', '_')
    return (f'MeasuredChoice(device_type={choice.device_type!r}, '
            f'capability={choice.capability!r}, dtype={choice.dtype}, '
            f'rewrites={rewrites}, measured={choice.measured!r})')


def save_choice(choice: MeasuredChoice, path: str) -> None:
    """Write ``choice`` as JSON (its rewrites, and its row as Python), for
    ``tools/benchmark.py --sa-rewrites FILE`` and for the record."""
    write_atomically(
        path,
        json.dumps(
            dict(rewrites=asdict(choice.rewrites), row=source_row(choice)),
            indent=2) + '\n')


def load_rewrites(path: str) -> SARewrites:
    """The rewrites of a choice :func:`save_choice` wrote; a ``ValueError``
    naming the file if it holds none.

    Example:
        >>> load_rewrites('sa-rewrites-fp32.json')  # doctest: +SKIP
        SARewrites(tiled_pooling=False, ..., parallel_scales=True)
    """
    names = {f.name for f in fields(SARewrites)}
    try:
        with open(path) as f:
            rewrites = json.load(f)['rewrites']
        if set(rewrites) != names:
            raise ValueError(f'fields {sorted(rewrites)}')
        return SARewrites(**rewrites)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f'{path} holds no SA rewrites saved by '
                         f'--choose-sa-rewrites ({type(error).__name__}: '
                         f'{error})') from None


__all__ = [
    'SARewrites', 'PLAIN', 'CPU_TUNED', 'CUDA_STREAMS', 'NAMED_REWRITES',
    'MeasuredChoice', 'MEASURED_CHOICES', 'as_rewrites', 'candidates',
    'describe',
    'measured_choice', 'measured_rewrites', 'source_row', 'save_choice',
    'load_rewrites'
]
