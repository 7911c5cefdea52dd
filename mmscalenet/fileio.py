# Copyright (c) mmscalenet contributors. All rights reserved.
"""Writing files whole or not at all: every file the package writes goes
through a temporary file beside it and a rename (``os.replace`` is atomic
on one file system), so an interrupted write never leaves half a file where
a reader (a resumed study, a loader) would take it for a whole one."""
import contextlib
import hashlib
import os
import os.path as osp
from typing import Iterator, Union


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write instead of ``path``; renamed to ``path``
    when the block ends without an error, removed when it raises. The
    temporary name keeps the extension (writers that pick a format by it,
    as matplotlib does, see the real one).

    Example:
        >>> with atomic_path('weights.safetensors') as tmp:  # doctest: +SKIP
        ...     save_file(tensors, tmp)
    """
    folder, name = osp.split(osp.abspath(path))
    root, ext = osp.splitext(name)
    tmp = osp.join(folder, f'.{root}.tmp{os.getpid()}{ext}')
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_atomically(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)


def sha256_of(path: str) -> str:
    """The SHA-256 of the file ``path``, in hex (as ``sha256sum`` prints
    it)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
