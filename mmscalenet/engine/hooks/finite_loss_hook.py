# Copyright (c) mmscalenet contributors. All rights reserved.
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from ...errors import NonFiniteLossError
from ...registry import register_hook


@register_hook
class FiniteLossHook(Hook):
    """Stop training at the first iteration whose loss is not finite.

    mmengine trains on through a ``nan`` loss; this hook ends the run at
    that iteration with :class:`~mmscalenet.errors.NonFiniteLossError`,
    which ``tools/train.py`` prints in one line. The ranks of a distributed
    run agree first (one ``all_reduce`` of a count), so every rank stops at
    the same iteration with the same reason. Its priority runs it before
    the checkpoint hook, so no checkpoint of the broken state is written.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.

    Example:
        >>> default_hooks = dict(finite_loss=dict(type='FiniteLossHook'))
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        if not isinstance(interval, int) or isinstance(interval, bool) or \
                interval < 1:
            raise ValueError(f'FiniteLossHook: interval must be a positive '
                             f'integer, got {interval!r}')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs or \
                not self.every_n_train_iters(runner, self.interval):
            return
        values = {
            name: float(value.detach() if torch.is_tensor(value) else value)
            for name, value in outputs.items() if name.startswith('loss')
        }
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        count = torch.tensor([float(bool(bad))])
        all_reduce(count)  # a no-op outside a distributed run
        if count.item() == 0:
            return
        ranks = int(count.item())
        where = (f' (on {ranks} of {get_world_size()} ranks)'
                 if get_world_size() > 1 else '')
        losses = ', '.join(f'{k}={v}' for k, v in bad.items()) or \
            'on another rank'
        raise NonFiniteLossError(
            f'the loss is not finite at iteration {runner.iter + 1}'
            f'{where}: {losses}; the run stopped there. Lower the learning '
            f'rate or clip gradients (optim_wrapper.clip_grad); from '
            f'scratch with frozen norms (norm_eval=True), keep '
            f'zero_init_residual=True or load pretrained weights')
