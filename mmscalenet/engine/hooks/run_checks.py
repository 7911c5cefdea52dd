# Copyright (c) mmscalenet contributors. All rights reserved.
"""What the hooks check before training, agreed by every rank."""
from typing import Any, Callable

from mmengine.dist import broadcast_object_list, is_main_process

from ...allocation import find_scalenet, seed_importance
from ...allocation.writer import check_out_dir
from ...errors import ConfigError


def on_rank_0(fn: Callable[[], Any], what: str, error=RuntimeError) -> Any:
    """``fn()`` on rank 0, its result broadcast to every rank.

    Whatever goes wrong there is raised on every rank as the same ``error``
    (``'<what> failed on rank 0: <type>: <message>'``), so that no rank is
    left waiting for the others and all end with one reason.
    """
    payload = [None]
    if is_main_process():
        try:
            payload = [('ok', fn())]
        except Exception as e:  # every rank must hear of any failure
            payload = [('error', f'{type(e).__name__}: {e}')]
    broadcast_object_list(payload, src=0)
    status, value = payload[0]
    if status == 'error':
        raise error(f'{what} failed on rank 0: {value}')
    return value


def check_seed_run(runner, out_dir: str, hook: str) -> None:
    """Before training, on every rank: the model has a ScaleNet whose SA
    norms have a gamma to rank, and ``out_dir`` can be written; else one
    :class:`ConfigError` naming ``hook``."""

    def check():
        seed_importance(find_scalenet(runner.model))
        check_out_dir(out_dir)

    on_rank_0(check, f'{hook}: the check before training', ConfigError)
