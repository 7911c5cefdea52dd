# Copyright (c) mmscalenet contributors. All rights reserved.
"""Let torch >= 2.6 load the checkpoints mmengine 0.10 writes.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any global it does not know. mmengine 0.10.7 calls ``torch.load`` without
``weights_only`` and saves its message hub in the checkpoint (a
``HistoryBuffer`` of numpy arrays), so ``--resume`` fails. Rather than
turning safe loading off, allow exactly the types such a checkpoint holds:
mmengine's ``HistoryBuffer``, the numpy pieces that rebuild an array or a
scalar, and ``getattr`` narrowed to the one use the pickle makes of it
(looking up a statistics method of ``HistoryBuffer``). Everything else is
still refused.
"""
from pickle import UnpicklingError

import numpy as np
import torch


def _numpy_multiarray():
    """numpy's ``multiarray`` module: ``numpy._core`` in numpy 2 (where
    ``numpy.core`` is a deprecated alias), ``numpy.core`` before."""
    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    return multiarray


def _numpy_globals() -> list:
    """The numpy callables and types a pickled array or scalar refers to.

    ``_reconstruct`` is private to numpy, but it is the name every pickled
    array refers to, so it is what has to be allowed.
    """
    multiarray = _numpy_multiarray()
    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar
    entries = [np.ndarray, np.dtype, reconstruct, scalar]
    # Pickles name these by their module path at save time: numpy 1 writes
    # numpy.core.multiarray.*, numpy 2 writes numpy._core.multiarray.*.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(reconstruct, f'{module}._reconstruct'),
                    (scalar, f'{module}.scalar')]
    codes = np.typecodes['AllInteger'] + np.typecodes['AllFloat'] + '?'
    entries += sorted({type(np.dtype(c)) for c in codes}, key=str)
    return entries


def _history_buffer_method(owner, name: str):
    """``getattr`` as pickled ``HistoryBuffer`` instances use it, and no more.

    A ``HistoryBuffer`` pickles its statistics methods (``min``, ``mean``,
    ...) as ``getattr(HistoryBuffer, 'min')``. Anything else is refused.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if (owner is HistoryBuffer and not name.startswith('_')
            and callable(vars(HistoryBuffer).get(name))):
        return getattr(HistoryBuffer, name)
    raise UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only '
        f'statistics methods of HistoryBuffer are allowed')


def allow_mmengine_checkpoints() -> None:
    """Allow-list the non-tensor types of mmengine checkpoints (idempotent).

    A no-op on torch versions without ``torch.serialization.add_safe_globals``
    (< 2.4), which load such checkpoints anyway.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    add_safe_globals(
        [HistoryBuffer, (_history_buffer_method, 'builtins.getattr')] +
        _numpy_globals())
