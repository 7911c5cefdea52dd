# Copyright (c) mmscalenet contributors. All rights reserved.
"""Max pooling that is fast in inference on CPUs, equal to ``max_pool2d``.

On a channels-first map without autograd, ``max_pool2d`` on CPUs runs
several times slower than a few element-wise maxima or reductions over
reshaped views of the same map (it is a generic windowed kernel). The
functions here take that path where it gives exactly ``max_pool2d``'s
result and fall back to ``max_pool2d`` everywhere else: with autograd (its
backward needs the indices), on channels-last maps (where ``max_pool2d`` is
fast), while tracing or compiling (exporters and compilers get the plain
operator), and on small maps (where one ``max_pool2d`` call costs less
than several smaller operators). They run where a model's rewrites say
``tiled_pooling`` (:func:`~mmscalenet.rewrites.apply_rewrites`).
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def is_compiling() -> bool:
    """Whether torch.compile is tracing the code: ``torch.compiler.
    is_compiling`` (torch >= 2.3), else ``torch._dynamo.is_compiling``
    (torch 2.0-2.2)."""
    compiler = getattr(torch, 'compiler', None)
    if hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    import torch._dynamo as dynamo
    return dynamo.is_compiling()


def in_eager_inference(*tensors: torch.Tensor) -> bool:
    """Whether ``tensors`` are computed in eager mode without autograd
    (no tracing or compiling, no gradient to record)."""
    if torch.jit.is_tracing() or torch.jit.is_scripting() or is_compiling():
        return False
    return not (torch.is_grad_enabled()
                and any(t.requires_grad for t in tensors))


#: Below this many elements ``max_pool2d``'s single call beats the extra
#: operators of the reshaped-view paths (measured on CPU).
MIN_ELEMENTS = 1 << 17


def _channels_first_inference(x: torch.Tensor) -> bool:
    return x.numel() >= MIN_ELEMENTS and in_eager_inference(x) and \
        x.is_contiguous() and \
        not x.is_contiguous(memory_format=torch.channels_last)


def max_pool_tiled(x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
    """Max pooling with stride = window, floor mode.

    Equal to ``F.max_pool2d(x, window, window)``; in eager inference on a
    channels-first map it is two reductions over reshaped views.
    """
    if not _channels_first_inference(x):
        return F.max_pool2d(x, window, window)
    (kh, kw), (n, c, h, w) = window, x.shape
    hh, ww = h // kh, w // kw
    rows = x[:, :, :hh * kh].reshape(n, c, hh, kh, w).amax(3)
    return rows[..., :ww * kw].reshape(n, c, hh, ww, kw).amax(4)


def _max_pool_3_2_1d(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Window 3, stride 2, padding 1 along ``dim`` (-1 or -2) of a map
    even along it: ``out[i] = max(x[2i - 1], x[2i], x[2i + 1])``."""
    shape, d = list(x.shape), dim % x.dim()
    shape[d:d + 1] = [shape[d] // 2, 2]
    pairs = x.view(shape)
    odd = pairs.select(dim, 1)
    out = torch.maximum(pairs.select(dim, 0), odd)
    head = out.narrow(dim, 1, out.shape[dim] - 1)
    torch.maximum(head, odd.narrow(dim, 0, odd.shape[dim] - 1), out=head)
    return out


class StemMaxPool(nn.MaxPool2d):
    """The ResNet stem's 3x3, stride 2, padding 1 max pool.

    An ``nn.MaxPool2d(3, 2, 1)`` (same attributes, no parameters) that,
    in eager inference on a large channels-first map of even height and
    width, computes the same values as element-wise maxima of the two rows
    (then columns) of every stride-2 pair and the row (column) before it,
    about three times faster on CPUs.

    Example:
        >>> import torch
        >>> pool = StemMaxPool()
        >>> x = torch.rand(1, 64, 112, 112)
        >>> with torch.no_grad():
        ...     out = pool(x)
        >>> out.shape, torch.equal(out, torch.max_pool2d(x, 3, 2, 1))
        (torch.Size([1, 64, 56, 56]), True)
    """

    def __init__(self):
        super().__init__(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 2 or w % 2 or not _channels_first_inference(x):
            return super().forward(x)
        return _max_pool_3_2_1d(_max_pool_3_2_1d(x, -2), -1)
