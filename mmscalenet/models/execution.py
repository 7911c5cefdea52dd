# Copyright (c) mmscalenet contributors. All rights reserved.
"""Which implementation of the SA block's operators runs on which device.

The SA block has a plain form (the authors' order: pool, conv, upsample,
norm, concatenate) and three rewrites that give the same values and were
measured to pay on CPUs:

- ``tiled_pooling``: max pooling as reductions over reshaped views, and the
  stem's 3x3/2 pool as element-wise maxima (eager inference,
  channels-first);
- ``buffer_concat``: every scale written straight into its channel slice of
  one output buffer, repeated scales through a broadcast view (eager
  inference);
- ``pooled_norm``: where the upsampling only repeats pixels, the norm runs
  on the pooled map (inference and training);

and one candidate for GPUs, where a block's scales are chains of small
kernels on small maps that leave the device idle one after another:

- ``parallel_scales``: each scale of a block on its own CUDA stream,
  forked from the current stream and joined before the concatenation
  (:mod:`~mmscalenet.models.scale_streams`; the same operators, so the same
  outputs). It has not been timed on a GPU yet, so no device takes it by
  default; ``tools/benchmark.py --sa-paths cuda-streams`` times it.

Measured on an H100 (``docs/benchmarks.md``), the plain order was faster
on CUDA tensors (eager, batch 16: 11.9 against 15.0 ms; batch 1: 12.2
against 17.1 ms), so there the plain form runs. This module is the one home
of that choice; :func:`forced_sa_paths` overrides it (benchmark ablations,
tests).
"""
import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import torch


@dataclass(frozen=True)
class SAPaths:
    """Which rewrites of the SA block's plain form run (see the module)."""
    tiled_pooling: bool
    buffer_concat: bool
    pooled_norm: bool
    parallel_scales: bool = False


#: Every rewrite, and none.
CPU_TUNED = SAPaths(tiled_pooling=True, buffer_concat=True, pooled_norm=True)
PLAIN = SAPaths(tiled_pooling=False, buffer_concat=False, pooled_norm=False)
#: The measured choice per device type; other devices run the plain form.
DEVICE_PATHS = {'cpu': CPU_TUNED, 'cuda': PLAIN}
#: The plain form with the scales on parallel CUDA streams (CPU tensors
#: run it as the plain form).
CUDA_STREAMS = SAPaths(
    tiled_pooling=False,
    buffer_concat=False,
    pooled_norm=False,
    parallel_scales=True)
#: Names :func:`forced_sa_paths` and ``tools/benchmark.py --sa-paths`` take.
NAMED_PATHS = {
    'cpu-tuned': CPU_TUNED,
    'plain': PLAIN,
    'cuda-streams': CUDA_STREAMS
}

_forced: Optional[SAPaths] = None


def sa_paths(device: torch.device) -> SAPaths:
    """The rewrites that run on ``device``.

    Example:
        >>> sa_paths(torch.device('cpu')).tiled_pooling
        True
        >>> sa_paths(torch.device('cuda')).buffer_concat
        False
    """
    if _forced is not None:
        return _forced
    return DEVICE_PATHS.get(device.type, PLAIN)


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
