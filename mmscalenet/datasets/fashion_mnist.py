# Copyright (c) mmscalenet contributors. All rights reserved.
"""Fashion-MNIST on disk, checked, for mmpretrain's ``FashionMNIST``.

mmpretrain's ``FashionMNIST(data_root=..., download=False)`` reads the four
unpacked IDX files from ``data_root`` and checks only that they exist. This
module fills that folder from the copies a machine already has (Debian's
``dataset-fashion-mnist`` package, or a folder the user names, packed or
unpacked) or from mmpretrain's own download, and refuses anything that is not
the real data: every file's magic number, item count, image size, length and
the MD5 of its unpacked content are checked before it is moved into place.
Files are written under a temporary name and renamed, so a failure never
leaves a half-written file where the dataset class would read it.

Example:
    >>> from mmscalenet.datasets.fashion_mnist import prepare_fashion_mnist
    >>> prepare_fashion_mnist('data/fashion_mnist')  # doctest: +SKIP
    {'train-images-idx3-ubyte': '/usr/share/datasets/fashion-mnist/...', ...}
"""
import gzip
import hashlib
import os
import os.path as osp
import shutil
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..fileio import write_atomically

#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
#: Where the project's configs read the data from (relative to the repo).
DEFAULT_DATA_ROOT = 'data/fashion_mnist'
HOW_TO_GET = (
    'install it with `apt-get install dataset-fashion-mnist` (Debian), or '
    'download the four *-ubyte.gz files of '
    'https://github.com/zalandoresearch/fashion-mnist into a folder and run '
    '`python tools/prepare_fashion_mnist.py --src FOLDER`')


class FashionMNISTError(ValueError):
    """A Fashion-MNIST file is missing, truncated or not the real one."""


@dataclass(frozen=True)
class IdxFile:
    """What one unpacked Fashion-MNIST file must be.

    Attributes:
        name (str): File name as mmpretrain reads it (unpacked).
        magic (int): IDX magic number (2049: labels, 2051: images).
        count (int): Number of items.
        md5 (str): MD5 of the unpacked content.
    """
    name: str
    magic: int
    count: int
    md5: str

    @property
    def item_shape(self) -> tuple:
        return (28, 28) if self.magic == 2051 else ()

    @property
    def header_size(self) -> int:
        return 4 * (2 + len(self.item_shape))

    @property
    def size(self) -> int:
        item = 1
        for s in self.item_shape:
            item *= s
        return self.header_size + self.count * item


#: The four files (the zalandoresearch release; checksums of the unpacked
#: content, which the Debian package and the original .gz files share).
FASHION_MNIST_FILES = (
    IdxFile('train-images-idx3-ubyte', 2051, 60000,
            'f4a8712d7a061bf5bd6d2ca38dc4d50a'),
    IdxFile('train-labels-idx1-ubyte', 2049, 60000,
            '9018921c3c673c538a1fc5bad174d6f9'),
    IdxFile('t10k-images-idx3-ubyte', 2051, 10000,
            '8181f5470baa50b63fa0f6fddb340f0a'),
    IdxFile('t10k-labels-idx1-ubyte', 2049, 10000,
            '15d484375f8d13e6eb1aabb0c3f46965'),
)


def read_idx_bytes(path: str) -> bytes:
    """The unpacked content of an IDX file, ``.gz`` or not."""
    try:
        with open(path, 'rb') as f:
            head = f.read(2)
        if head == b'\x1f\x8b':
            with gzip.open(path, 'rb') as f:
                return f.read()
        with open(path, 'rb') as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise FashionMNISTError(
            f'{path}: cannot be read ({type(e).__name__}: {e}); the file is '
            f'truncated or damaged') from None


def check_idx_content(data: bytes, spec: IdxFile, path: str) -> None:
    """Raise :class:`FashionMNISTError` unless ``data`` is ``spec``'s file.

    The message names ``path`` and what is wrong: the magic number, the
    item count, the image size, the length or the checksum.
    """
    if len(data) < spec.header_size:
        raise FashionMNISTError(
            f'{path}: {len(data)} bytes is too short for an IDX header '
            f'(truncated file?)')
    magic, count = struct.unpack('>II', data[:8])
    if magic != spec.magic:
        raise FashionMNISTError(
            f'{path}: magic number {magic}, expected {spec.magic} for '
            f'{spec.name} (not a Fashion-MNIST '
            f'{"image" if spec.magic == 2051 else "label"} file)')
    if count != spec.count:
        raise FashionMNISTError(f'{path}: {count} items, expected '
                                f'{spec.count} for {spec.name}')
    if spec.item_shape:
        shape = struct.unpack('>II', data[8:16])
        if shape != spec.item_shape:
            raise FashionMNISTError(f'{path}: images of {shape[0]}x'
                                    f'{shape[1]}, expected 28x28')
    if len(data) != spec.size:
        raise FashionMNISTError(
            f'{path}: {len(data)} bytes of content, expected {spec.size} '
            f'(truncated file?)')
    md5 = hashlib.md5(data).hexdigest()
    if md5 != spec.md5:
        raise FashionMNISTError(
            f'{path}: checksum {md5} of the unpacked content, expected '
            f'{spec.md5}: not the Fashion-MNIST release')


def find_file(folder: str, spec: IdxFile) -> Optional[str]:
    """``spec``'s file in ``folder``, unpacked or ``.gz``, or None."""
    for name in (spec.name, spec.name + '.gz'):
        path = osp.join(folder, name)
        if osp.isfile(path):
            return path
    return None


def is_prepared(data_root: str,
                files: Sequence[IdxFile] = FASHION_MNIST_FILES) -> bool:
    """Whether ``data_root`` holds the four files, each checked."""
    try:
        for spec in files:
            path = osp.join(data_root, spec.name)
            if not osp.isfile(path):
                return False
            check_idx_content(read_idx_bytes(path), spec, path)
    except FashionMNISTError:
        return False
    return True


def _download_with_mmpretrain(folder: str, timeout: float = 30) -> None:
    """Let mmpretrain's ``FashionMNIST`` download into ``folder`` (each
    connection gives up after ``timeout`` seconds of silence)."""
    import socket

    from mmpretrain.datasets import FashionMNIST
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        FashionMNIST(data_root=folder, download=True, lazy_init=False)
    finally:
        socket.setdefaulttimeout(previous)


def prepare_fashion_mnist(data_root: str = DEFAULT_DATA_ROOT,
                          sources: Optional[Sequence[str]] = None,
                          download: bool = True,
                          files: Sequence[IdxFile] = FASHION_MNIST_FILES
                          ) -> Dict[str, str]:
    """Fill ``data_root`` with the four checked, unpacked files.

    Sources are tried in order; the first folder that holds all four files
    (packed or not) is used, and a bad file there is refused (not skipped),
    with its name. Files already in ``data_root`` that pass every check are
    kept.

    Args:
        data_root (str): Folder mmpretrain's ``FashionMNIST`` reads.
            Defaults to ``'data/fashion_mnist'``.
        sources (Sequence[str], optional): Folders to copy from. Defaults to
            ``[DEBIAN_DIR]``.
        download (bool): Where no source has the files, try mmpretrain's
            download (needs the internet). Defaults to True.
        files (Sequence[IdxFile]): What the files must be. Defaults to
            the Fashion-MNIST release.

    Returns:
        dict: Each file name and where its content came from.

    Raises:
        FashionMNISTError: A file is not the real one, or no source has the
            data (the message says how to get it).
    """
    sources = [DEBIAN_DIR] if sources is None else list(sources)
    os.makedirs(data_root, exist_ok=True)
    if is_prepared(data_root, files):
        return {spec.name: osp.join(data_root, spec.name)
                for spec in files}
    looked: List[str] = []
    for folder in sources:
        found = [find_file(folder, spec) for spec in files]
        if not all(found):
            missing = [s.name for s, p in zip(files, found)
                       if p is None]
            looked.append(f'{folder} (missing {", ".join(missing)})'
                          if any(found) else f'{folder} (no files)')
            continue
        contents = []
        for spec, path in zip(files, found):
            data = read_idx_bytes(path)
            check_idx_content(data, spec, path)
            contents.append(data)
        for spec, data in zip(files, contents):
            write_atomically(osp.join(data_root, spec.name), data)
        return dict(zip((s.name for s in files), found))
    if download:
        staging = osp.join(data_root, f'.download{os.getpid()}')
        try:
            _download_with_mmpretrain(staging)
            return prepare_fashion_mnist(
                data_root, [staging], download=False, files=files)
        except FashionMNISTError:
            raise
        except Exception as e:  # no network, a changed URL, ...
            looked.append(f"mmpretrain's download ({type(e).__name__}: "
                          f'{str(e).splitlines()[0] if str(e) else e!r})')
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise FashionMNISTError('Fashion-MNIST not found; looked in: ' +
                            '; '.join(looked) + '. To get it, ' + HOW_TO_GET)


def balanced_indices(labels: Sequence[int], per_class: int,
                     skip_per_class: int = 0) -> List[int]:
    """Indices of a class-balanced subset, in file order.

    Takes, for every class, the ``per_class`` first images after skipping its
    ``skip_per_class`` first ones, so two calls with ``skip_per_class=0`` and
    ``skip_per_class=per_class_of_the_first`` give disjoint subsets.

    Args:
        labels (Sequence[int]): Label of every image of the split.
        per_class (int): Images per class.
        skip_per_class (int): Images per class to pass over first.
            Defaults to 0.

    Returns:
        list[int]: Sorted indices.

    Example:
        >>> balanced_indices([0, 1, 0, 1, 0, 1], per_class=1, skip_per_class=1)
        [2, 3]
    """
    by_class: Dict[int, List[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    chosen = []
    for c, of_class in sorted(by_class.items()):
        picked = of_class[skip_per_class:skip_per_class + per_class]
        if len(picked) < per_class:
            raise ValueError(
                f'class {c} has {len(of_class)} images, fewer than '
                f'{skip_per_class} + {per_class} requested')
        chosen += picked
    return sorted(chosen)
