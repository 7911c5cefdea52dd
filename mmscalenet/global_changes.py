# Copyright (c) mmscalenet contributors. All rights reserved.
"""What ``import mmscalenet`` changes outside the package, in one place.

Two changes, both for mmengine's checkpoints, applied once on import:

1. torch's safe loading (``torch.load(weights_only=True)``, the default
   since torch 2.6) allows the few non-tensor types mmengine 0.10 saves
   (:mod:`mmscalenet.checkpoint_compat`): without it ``--resume`` fails on
   torch >= 2.6;
2. mmengine's loader of local checkpoint files is replaced by one that
   checks the file first and reads ``.safetensors``
   (:mod:`mmscalenet.checkpoint_integrity`): without it a truncated or
   corrupt checkpoint ends in torch's zip-reader traceback, and a
   safetensors file cannot be loaded by ``init_cfg``/``load_from``.

Both are logged once at debug level. ``MMSCALENET_GLOBAL_CHANGES=0`` (also
``off``, ``false``, ``no``) in the environment turns both off, with the
costs above; ``1`` (the default) keeps them.

Example:
    >>> import os
    >>> os.environ.get('MMSCALENET_GLOBAL_CHANGES', '1')
    '1'
"""
import logging
import os
import sys

from .checkpoint_compat import allow_mmengine_checkpoints
from .checkpoint_integrity import guard_local_checkpoint_loads
from .errors import ConfigError

#: The environment variable that turns the changes off.
ENV_VAR = 'MMSCALENET_GLOBAL_CHANGES'
_ON, _OFF = ('1', 'on', 'true', 'yes'), ('0', 'off', 'false', 'no')

logger = logging.getLogger('mmscalenet')


def global_changes_enabled() -> bool:
    """Whether :data:`ENV_VAR` leaves the changes on (the default).

    Raises:
        ConfigError: naming the variable and its value, if it is neither on
            nor off.
    """
    value = os.environ.get(ENV_VAR, '1').strip().lower()
    if value not in _ON + _OFF:
        raise ConfigError(f'{ENV_VAR} must be 1 or 0 (on/off), got '
                          f'{os.environ[ENV_VAR]!r}')
    return value in _ON


def print_uncaught_in_one_line(error: BaseException) -> None:
    """If ``error`` ends the process uncaught (a bad :data:`ENV_VAR` at
    ``import mmscalenet`` in a tool), print it as the tools print their
    errors, ``error: <message>``, with no traceback; any other exception
    keeps Python's report, and code that catches ``error`` sees it as
    usual."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        if value is error:
            print(f'error: {value}', file=sys.stderr)
        else:
            previous(kind, value, traceback)

    sys.excepthook = hook


def apply_global_changes() -> bool:
    """Apply both changes unless :data:`ENV_VAR` turns them off; returns
    whether they were applied (idempotent)."""
    if not global_changes_enabled():
        logger.debug('mmscalenet: %s=%s: torch safe loading and mmengine\'s '
                     'checkpoint loader left as they are', ENV_VAR,
                     os.environ[ENV_VAR])
        return False
    allow_mmengine_checkpoints()
    guard_local_checkpoint_loads()
    logger.debug(
        'mmscalenet: torch safe loading now allows mmengine checkpoints\' '
        'types (resume on torch >= 2.6); mmengine\'s local checkpoint loader '
        'checks files and reads .safetensors (%s=0 turns both off)', ENV_VAR)
    return True
