# Copyright (c) mmscalenet contributors. All rights reserved.
"""The timed steps and how they are timed.

Every timing is a median over interleaved rounds (:func:`timed`): every
round runs every step once, in alternating order, so that drifts of the
machine hit all models alike.

Example:
    >>> steps = {'a': eval_step(model_a, x, amp=False),
    ...          'b': eval_step(model_b, x, amp=False)}  # doctest: +SKIP
    >>> timed(steps, rounds=5, warmup=1, device=x.device)  # doctest: +SKIP
    {'a': 0.0123, 'b': 0.0118}
"""
import resource
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from ..analysis.complexity import det_data_samples


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def eval_step(model: nn.Module, x: torch.Tensor,
              amp: bool) -> Callable[[], None]:

    def step():
        with torch.no_grad(), torch.autocast(x.device.type, enabled=amp):
            model(x)

    return step


def detection_step(model: nn.Module, x: torch.Tensor,
                   amp: bool) -> Callable[[], None]:
    samples = det_data_samples(*x.shape[-2:])

    def step():
        with torch.no_grad(), torch.autocast(x.device.type, enabled=amp):
            model.predict(x, samples)

    return step


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               amp: bool) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(enabled=amp and x.is_cuda)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, enabled=amp):
            loss = criterion(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def backbone_train_step(backbone: nn.Module, x: torch.Tensor,
                        amp: bool) -> Callable[[], None]:
    """Forward and backward of a detection backbone alone (every stage's
    output enters the loss, as an FPN reads them), without an optimizer:
    what a backbone costs per step of a detector's training."""
    scaler = torch.amp.GradScaler(enabled=amp and x.is_cuda)

    def step():
        backbone.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, enabled=amp):
            loss = sum(out.float().mean() for out in backbone(x))
        scaler.scale(loss).backward()

    return step


def page_faults(step: Callable[[], None]) -> float:
    """Minor page faults of this process during one call of ``step``: the
    cost of memory the allocator handed back to the OS and touches again
    (expensive in a VM)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the activations autograd saves for backward in one forward
    (parameters, which autograd saves too, left out)."""
    seen, total = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if not isinstance(t, nn.Parameter) and key not in seen:
            seen.add(key)
            total[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total[0]


def timed(steps: Dict[str, Callable[[], None]], rounds: int, warmup: int,
          device: torch.device) -> Dict[str, float]:
    """Median seconds of each step over interleaved rounds.

    Every other round runs the steps in reverse order, so that no model
    always runs right after the same one.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for r in range(rounds):
        order = list(steps.items())
        for name, step in (order[::-1] if r % 2 else order):
            times[name].append(call_seconds(step, device))
    return {name: statistics.median(t) for name, t in times.items()}


def call_seconds(step: Callable[[], None], device: torch.device) -> float:
    """Seconds of one call of ``step``, the device synchronised around it."""
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - start


def first_call_seconds(steps: Dict[str, Callable[[], None]],
                       device: torch.device) -> Dict[str, float]:
    """Seconds of each step's first call: for a compiled model, its
    compilation (and one run)."""
    return {name: call_seconds(step, device) for name, step in steps.items()}
