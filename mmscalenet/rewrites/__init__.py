# Copyright (c) mmscalenet contributors. All rights reserved.
"""Opt-in exact rewrites of the SA block for eager PyTorch.

The models of :mod:`mmscalenet.models` run the authors' order (pool, conv,
upsample, norm, concatenate). The rewrites here compute the same values
faster where a measurement on the device says so: see
:data:`MEASURED_CHOICES`, :func:`apply_rewrites` and ``docs/speed.md``,
"Rewrites".

Example:
    >>> import torch
    >>> from mmscalenet.models import ScaleNet
    >>> model = ScaleNet(50).eval()
    >>> rewrites = measured_rewrites(torch.device('cpu'), torch.float32)
    >>> rewrites_of(apply_rewrites(model, rewrites))
    {'cpu-tuned'}
"""
from .blocks import apply_rewrites, rewrites_of
from .choice import (CPU_TUNED, CUDA_STREAMS, MEASURED_CHOICES,
                     NAMED_REWRITES, PLAIN, MeasuredChoice, SARewrites,
                     as_rewrites, candidates, describe, load_rewrites,
                     measured_choice, measured_rewrites, save_choice,
                     source_row)

__all__ = [
    'apply_rewrites', 'rewrites_of', 'SARewrites', 'PLAIN', 'CPU_TUNED',
    'CUDA_STREAMS', 'NAMED_REWRITES', 'MeasuredChoice', 'MEASURED_CHOICES',
    'as_rewrites', 'candidates', 'describe', 'measured_choice',
    'measured_rewrites', 'source_row', 'save_choice', 'load_rewrites'
]
