# Copyright (c) mmscalenet contributors. All rights reserved.
"""Running an SA block's scales on parallel CUDA streams (the
``parallel_scales`` rewrite).

Each scale of a block is a chain of small kernels (pool, conv, norm,
upsample) on a small map; one after another they leave a GPU idle at the
batch sizes detectors train at. :func:`on_parallel_streams` runs the first
scale on the current stream and each other one on a side stream:

- fork: every side stream waits for the current one (the block's input is
  ready);
- join: the current stream waits for every side stream before anything
  reads their outputs (the concatenation);
- memory: an output made on a side stream is freed on the current one, so
  it is recorded there (``Tensor.record_stream``) and the caching
  allocator does not hand its memory to the side stream's next kernel too
  early. The block's input needs no record: after the join every later
  use of its memory is ordered after the side streams' reads. Under CUDA
  graph capture the graph owns its memory pool and replays in stream
  order, and no record is made;
- autograd runs each operator's backward on the stream of its forward and
  synchronises the streams where gradients meet, so a training step takes
  the same path.

Side streams are created once per device and reused (a CUDA graph captures
the fork and the join as parallel branches). On the CPU, and for a single
scale, the functions run in order.

Example:
    >>> import torch
    >>> parts = on_parallel_streams(
    ...     [lambda: torch.ones(1), lambda: torch.zeros(1)],
    ...     torch.device('cpu'))
    >>> [p.item() for p in parts]
    [1.0, 0.0]
"""
from typing import Callable, Dict, List, Sequence, Tuple, TypeVar

import torch

T = TypeVar('T')

#: Side streams by (device index, position), created on first use.
_side_streams: Dict[Tuple[int, int], 'torch.cuda.Stream'] = {}


def side_streams(device: torch.device, count: int) -> list:
    """``count`` side streams of ``device`` (the same ones every call)."""
    index = device.index if device.index is not None else \
        torch.cuda.current_device()
    for i in range(count):
        if (index, i) not in _side_streams:
            _side_streams[index, i] = torch.cuda.Stream(index)
    return [_side_streams[index, i] for i in range(count)]


def _tensors(result) -> List[torch.Tensor]:
    items = result if isinstance(result, (tuple, list)) else (result, )
    return [t for t in items if isinstance(t, torch.Tensor)]


def on_parallel_streams(functions: Sequence[Callable[[], T]],
                        device: torch.device) -> List[T]:
    """Call each of ``functions`` (each builds one scale's output) on its own
    CUDA stream of ``device`` and return their results in order, every
    stream joined into the current one (see the module).

    Args:
        functions (Sequence[Callable]): One per scale; each returns a
            tensor or a tuple holding tensors.
        device (torch.device): Where they run; anything but a CUDA device
            (or a single function) runs them in order.
    """
    if device.type != 'cuda' or len(functions) < 2:
        return [fn() for fn in functions]
    current = torch.cuda.current_stream(device)
    sides = side_streams(device, len(functions) - 1)
    for stream in sides:
        stream.wait_stream(current)
    results = [None] * len(functions)
    for i, (fn, stream) in enumerate(zip(functions[1:], sides), 1):
        with torch.cuda.stream(stream):
            results[i] = fn()
    results[0] = functions[0]()
    capturing = torch.cuda.is_current_stream_capturing()
    for stream, result in zip(sides, results[1:]):
        current.wait_stream(stream)
        if not capturing:
            for tensor in _tensors(result):
                tensor.record_stream(current)
    return results
