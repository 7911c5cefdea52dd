# Copyright (c) mmscalenet contributors. All rights reserved.
"""Refuse a truncated or corrupt checkpoint in one line, before loading it.

An interrupted copy or save leaves half a checkpoint. ``torch.load`` then
fails deep inside its zip reader ("failed finding central directory"), which
names neither the file nor what to do. :func:`check_checkpoint_file` looks at
the file first: a zip checkpoint (torch >= 1.6) must have its central
directory and every member's CRC must match; anything else must at least
start like a pickle (the legacy format). The tools call it on every
checkpoint they are given, and :func:`guard_local_checkpoint_loads` makes
mmengine's local-file loader (``load_from``, ``--resume``, ``init_cfg``
``Pretrained``, ``get_model(..., pretrained=)``) call it too.

A ``.safetensors`` file (tensors only, no pickle to execute) is checked
against its own header (every tensor's bytes present), and the guarded
loader reads it with safetensors instead of ``torch.load``.
"""
import json
import os.path as osp
import struct
import zipfile
from typing import Callable, Dict, Union

import torch

#: The suffix that makes a checkpoint a safetensors file.
SAFETENSORS_SUFFIX = '.safetensors'

#: What to do about a bad checkpoint, appended to every message.
REMEDY = ('copy or download it again, or pick another checkpoint (a work '
          'dir\'s last_checkpoint file names its latest)')


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt or not a checkpoint."""


def check_checkpoint_file(path: str, what: str = 'checkpoint') -> None:
    """Raise unless ``path`` is a whole checkpoint file.

    Args:
        path (str): The file.
        what (str): How the messages name it (e.g. ``'--resume checkpoint'``).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CorruptCheckpointError: it is empty, truncated, corrupt or not a
            PyTorch checkpoint; the message names it and what to do.

    Example:
        >>> check_checkpoint_file('half.pth')  # doctest: +SKIP
        CorruptCheckpointError: checkpoint half.pth is truncated ...
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        raise CorruptCheckpointError(f'{what} {path} is empty; {REMEDY}')
    if path.endswith(SAFETENSORS_SUFFIX):
        problem = _safetensors_problem(path)
        if problem:
            raise CorruptCheckpointError(
                f'{what} {path} is truncated or corrupt ({problem}); '
                f'{REMEDY}')
    elif head == b'PK\x03\x04':
        problem = _zip_problem(path)
        if problem:
            raise CorruptCheckpointError(
                f'{what} {path} is truncated or corrupt ({problem}); '
                f'{REMEDY}')
    elif head[0] != 0x80:  # a pickle's PROTO opcode (legacy torch.save)
        raise CorruptCheckpointError(
            f'{what} {path} is not a PyTorch checkpoint (it starts with '
            f'{head!r}); {REMEDY}')


def _zip_problem(path: str) -> str:
    """What is wrong with a zip checkpoint, or ``''``."""
    if not zipfile.is_zipfile(path):
        return ('its zip index is missing: the file ends early, as an '
                'interrupted copy or save leaves it')
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('data.pkl') for n in archive.namelist()):
                return 'a zip file without the data.pkl of torch.save'
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f'unreadable zip: {e}'
    return f'member {bad} fails its CRC check' if bad else ''


def _safetensors_problem(path: str) -> str:
    """What is wrong with a safetensors file, or ``''``: an 8-byte header
    length, a JSON header, then exactly the bytes its tensors span."""
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            return f'{size} bytes, shorter than the header length'
        (header_len, ) = struct.unpack('<Q', prefix)
        if header_len > size - 8:
            return (f'the header says {header_len} bytes of header, the '
                    f'file has {size - 8} after its length')
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return f'its header is not JSON: {e}'
    if not isinstance(header, dict):
        return 'its header is not a JSON object'
    spans = [entry.get('data_offsets', (0, 0))
             for name, entry in header.items()
             if name != '__metadata__' and isinstance(entry, dict)]
    data_len = max((end for _, end in spans), default=0)
    if 8 + header_len + data_len != size:
        return (f'its tensors span {data_len} bytes, the file has '
                f'{size - 8 - header_len}')
    return ''


def load_safetensors(path: str,
                     map_location: Union[str, Callable, None] = 'cpu'
                     ) -> Dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on ``map_location``'s device
    (a device string; anything else, as mmengine may pass, means the CPU).

    Raises:
        ImportError: safetensors is not installed (one line: what to
            install).
    """
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ImportError(
            f'{path} is a safetensors file: pip install safetensors (or '
            f'mmscalenet[timm]) to load it') from None
    device = map_location if isinstance(map_location, str) else 'cpu'
    return load_file(path, device=device)


def guard_local_checkpoint_loads() -> None:
    """Make mmengine's loader of local checkpoint files check them first
    (idempotent): every ``load_checkpoint`` of a local path then raises
    :class:`CorruptCheckpointError` with the file's name instead of
    torch's zip-reader error, and reads a ``.safetensors`` file with
    safetensors."""
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
    if CheckpointLoader._schemes.get('') is not load_from_local:
        return  # already guarded (or replaced by someone else: keep theirs)

    def load_from_checked_local(filename, map_location):
        check_checkpoint_file(filename)
        if filename.endswith(SAFETENSORS_SUFFIX):
            return load_safetensors(osp.expanduser(filename), map_location)
        return load_from_local(filename, map_location)

    load_from_checked_local.__doc__ = load_from_local.__doc__
    CheckpointLoader.register_scheme('', load_from_checked_local, force=True)
