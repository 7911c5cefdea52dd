# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet's modules with the SA block's rewrites, and how a model takes
them.

:func:`apply_rewrites` gives every SA block, SA bottleneck and ResNet stem
pool of a model the rewrites named, once: it stores them on each module
and makes it an instance of the subclass below that runs them (as
``torch.nn.utils.parametrize`` does), so two models in one process can run
different rewrites, and ``apply_rewrites(model, 'plain')`` gives back the
authors' modules. Every rewrite computes the authors' values to float
rounding (``tools/dev/check_equivalence.py``); what each is for:
``docs/speed.md``, "Rewrites".
"""
import functools
from typing import Dict, List, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from ..models.residual import ResidualBackbone
from ..models.sa_block import SABlock
from ..models.sa_geometry import pool_window, upsample_is_nearest
from ..models.scalenet import SABottleneck
from .choice import PLAIN, SARewrites, as_rewrites, describe
from .pooling import (StemMaxPool, in_eager_inference, is_compiling,
                      max_pool_tiled)
from .streams import on_parallel_streams

#: A scale's output and whether it still has to be repeated up to the
#: block's size (nearest upsampling by an integer factor).
Part = Tuple[torch.Tensor, bool]


class RewrittenSABlock(SABlock):
    """An :class:`SABlock` running :attr:`rewrites` (see the module)."""

    rewrites: SARewrites = PLAIN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        if self.rewrites.parallel_scales and x.is_cuda:
            # Each scale pools x itself (no map shared across streams).
            parts = on_parallel_streams([
                functools.partial(self._part, x, i, size, {})
                for i in self.scales
            ], x.device)
        else:
            pooled: Dict[int, torch.Tensor] = {}
            parts = [self._part(x, i, size, pooled) for i in self.scales]
        return concat_parts(parts, x, self.rewrites.buffer_concat)

    def _part(self, x: torch.Tensor, i: int, size: Tuple[int, int],
              pooled: Dict[int, torch.Tensor]) -> Part:
        y = self.conv_scale(i, self._pool(x, i, pooled))
        norm = self.norms[str(i)]
        if tuple(y.shape[-2:]) == size:
            return norm(y), False
        if self.rewrites.pooled_norm and self._nearest[i] is not False \
                and upsample_is_nearest(size, y.shape[-2:]) \
                and norm_commutes_with_repeat(norm, y):
            return norm_as_repeated(norm, y, size), True
        return norm(self.upsample_scale(y, i, size)), False

    def _pool(self, x: torch.Tensor, i: int,
              pooled: Dict[int, torch.Tensor]) -> torch.Tensor:
        """:meth:`downsample_scale`, with ``tiled_pooling`` from the
        coarsest map in ``pooled`` already max-pooled by a divisor of the
        factor (max pooling by ``a * b`` is max pooling by ``b`` of a map
        max-pooled by ``a``, in floor mode on a map at least ``a * b``
        wide), by reductions over reshaped views; eager only."""
        factor, (h, w) = self.pool_factors[i], x.shape[-2:]
        # Exporters and compilers get the authors' pools.
        if not (self.rewrites.tiled_pooling and self.downsample == 'max'
                and factor > 1 and h >= factor and w >= factor) or \
                torch.jit.is_tracing() or is_compiling():
            return self.downsample_scale(x, i)
        done = 1
        for g in pooled:  # a loop: torch.compile traces no max(default=)
            if factor % g == 0 and g > done:
                done = g
        src, step = pooled.get(done, x), factor // done
        pooled[factor] = max_pool_tiled(
            src, (pool_window(src.shape[-2], step),
                  pool_window(src.shape[-1], step)))
        return pooled[factor]


class RewrittenSABottleneck(SABottleneck):
    """An :class:`SABottleneck` whose stride pool is tiled with
    ``tiled_pooling``."""

    rewrites: SARewrites = PLAIN

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 or not self.rewrites.tiled_pooling:
            return super().forward_input(x)
        window = (pool_window(x.shape[-2], self.stride),
                  pool_window(x.shape[-1], self.stride))
        return max_pool_tiled(x, window)


#: The authors' module -> its subclass running rewrites.
REWRITTEN = {
    SABlock: RewrittenSABlock,
    SABottleneck: RewrittenSABottleneck,
}


def apply_rewrites(model: nn.Module,
                   rewrites: Union[str, SARewrites]) -> nn.Module:
    """Make every SA block and SA bottleneck of ``model`` run ``rewrites``
    (a :class:`SARewrites` or a name of
    :data:`~mmscalenet.rewrites.NAMED_REWRITES`), and the stem pool of each
    ScaleNet or ResNet of the package take ``tiled_pooling``; returns
    ``model``.

    Example:
        >>> import torch
        >>> from mmscalenet.models import ScaleNet
        >>> model = apply_rewrites(ScaleNet(50).eval(), 'cpu-tuned')
        >>> rewrites_of(model)
        {'cpu-tuned'}
        >>> with torch.no_grad():
        ...     out = model(torch.rand(1, 3, 64, 64))[-1]
        >>> out.shape
        torch.Size([1, 2048, 2, 2])
    """
    rewrites = as_rewrites(rewrites)
    for module in model.modules():
        base = _authors_class(module)
        if base in REWRITTEN:
            module.__class__ = base if rewrites == PLAIN else REWRITTEN[base]
            module.rewrites = rewrites
        if isinstance(module, ResidualBackbone) and \
                isinstance(module.maxpool, nn.MaxPool2d):
            module.maxpool.__class__ = StemMaxPool \
                if rewrites.tiled_pooling else nn.MaxPool2d
    return model


def rewrites_of(model: nn.Module) -> set:
    """The names of the rewrites ``model``'s SA blocks run (``'plain'`` for
    the authors' modules).

    Example:
        >>> from mmscalenet.models import ScaleNet
        >>> rewrites_of(ScaleNet(50))
        {'plain'}
    """
    return {
        describe(getattr(m, 'rewrites', PLAIN))
        for m in model.modules() if isinstance(m, SABlock)
    }


def _authors_class(module: nn.Module) -> type:
    for base, rewritten in REWRITTEN.items():
        if type(module) in (base, rewritten):
            return base
    return type(module)


def concat_parts(parts: List[Part], x: torch.Tensor,
                 into_buffer: bool) -> torch.Tensor:
    """The scales' outputs concatenated along channels.

    Args:
        parts (list[tuple[Tensor, bool]]): Per scale, its output and
            whether it still has to be repeated up to the size of ``x``.
        x (Tensor): The block's input (size and memory layout).
        into_buffer (bool): In eager inference, write every output into its
            channel slice of one buffer, repeated ones through a broadcast
            view (no upsampled copy, no concatenation copy).
    """
    n, _, h, w = x.shape
    tensors = [y for y, _ in parts]
    if not (into_buffer and in_eager_inference(*tensors)):
        outs = [
            F.interpolate(y, size=(h, w), mode='nearest') if repeat else y
            for y, repeat in parts
        ]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
    if len(parts) == 1 and not parts[0][1]:
        return parts[0][0]
    layout = torch.channels_last if not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format
    out = torch.empty((n, sum(y.shape[1] for y in tensors), h, w),
                      dtype=tensors[0].dtype,
                      device=x.device,
                      memory_format=layout)
    start = 0
    for y, repeat in parts:
        c, (ph, pw) = y.shape[1], y.shape[-2:]
        dst = out[:, start:start + c]
        if repeat:
            dst = dst.view(n, c, ph, h // ph, pw, w // pw)
            y = y[:, :, :, None, :, None]
        dst.copy_(y)
        start += c
    return out


def norm_commutes_with_repeat(norm: nn.Module, y: torch.Tensor) -> bool:
    """Whether ``norm`` gives the same values on ``y`` as on ``y`` with every
    pixel repeated (nearest upsampling by an integer factor): a fixed
    per-channel map (identity, a BatchNorm on running statistics), or a
    training ``nn.BatchNorm2d`` (every pixel repeated equally often leaves
    the batch statistics) on more than one value per channel. Other norms
    (GroupNorm, SyncBN in training) keep the authors' order."""
    if isinstance(norm, nn.Identity):
        return True
    if not isinstance(norm, _BatchNorm):
        return False
    if not norm.training and norm.track_running_stats and \
            norm.running_mean is not None:
        return True
    return isinstance(norm, nn.BatchNorm2d) and y.numel() > y.shape[1]


def norm_as_repeated(norm: nn.Module, y: torch.Tensor,
                     size: Tuple[int, int]) -> torch.Tensor:
    """``norm(y)``, keeping the running statistics ``norm`` would keep from
    ``y`` repeated up to ``size``.

    The running variance is an unbiased estimate, ``n / (n - 1)`` times the
    batch variance for ``n`` values per channel, and the repetition
    multiplies ``n``: the norm's own update is rescaled from the pooled
    count to the repeated one.
    """
    if not (isinstance(norm, _BatchNorm) and norm.training
            and norm.track_running_stats):
        return norm(y)
    previous = norm.running_var.clone()
    out = norm(y)
    momentum = norm.momentum
    if momentum is None:  # cumulative average, as _BatchNorm.forward
        momentum = 1.0 / float(norm.num_batches_tracked)
    (ph, pw), (h, w) = y.shape[-2:], size
    pooled = y.numel() // y.shape[1]
    repeated = pooled * (h // ph) * (w // pw)
    rescale = (pooled - 1) * repeated / (pooled * (repeated - 1))
    kept = previous * (1 - momentum)
    # Through .data: autograd saved running_var for the norm's backward
    # (which, in training, does not read it) and would refuse a bumped
    # version.
    norm.running_var.data.copy_(kept + (norm.running_var - kept) * rescale)
    return out
