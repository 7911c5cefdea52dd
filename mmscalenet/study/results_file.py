# Copyright (c) mmscalenet contributors. All rights reserved.
"""The study's results file: reading it, writing it whole, the protocol it
belongs to (and the fields added to protocols since older files were
written), the locks that keep a second study off the same file or work
dir, and the machine a run's record names."""
import datetime
import fcntl
import json
import os
import os.path as osp
import platform
import socket
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from ..fileio import write_atomically

#: Protocol fields added after results files were written, and the value a
#: file without them had.
PROTOCOL_ADDITIONS = dict(second_round=None, channel_divisor=1)


class StudyLockedError(RuntimeError):
    """Another process is training into the same results file or work
    dir."""


@contextmanager
def exclusive(path: str, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (an ``fcntl`` lock: released when
    the holder exits, however it ends) or raise :class:`StudyLockedError`
    naming the process that holds it."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors='replace').strip()
            raise StudyLockedError(
                f'{what} is in use by another allocation study ('
                f'{holder or "a process that has not written its name yet"}'
                f'); wait for it to finish or stop it, then run again'
            ) from None
        os.ftruncate(fd, 0)
        since = datetime.datetime.now().isoformat(timespec='seconds')
        os.pwrite(fd, f'pid {os.getpid()} on {socket.gethostname()}, since '
                  f'{since}'.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def machine_info() -> dict:
    """What a run's numbers depend on besides the code: the CPU model, the
    kernels torch picks for it, the threads and the torch build."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(
        cpu=model,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        threads=torch.get_num_threads(),
        torch=torch.__version__)
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def read_results(path: str) -> dict:
    """The results file, or an empty one where there is none yet."""
    if not osp.isfile(path):
        return dict(protocol=None, runs={})
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path} is not valid JSON ({e}); restore it '
                             f'from git or remove it to start over') from None


def write_results(path: str, results: dict) -> None:
    """Write ``results`` atomically: the old file stays until the new one is
    complete."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_atomically(path, json.dumps(results, indent=1) + '\n')


def adopt_protocol(results: dict, snapshot: dict,
                   results_path: Optional[str]) -> None:
    """Make ``snapshot`` (a protocol's ``to_dict()``) the protocol of
    ``results``: a new file takes it; a file of this protocol keeps its
    runs, read with the fields added since it was written at their old
    defaults (:data:`PROTOCOL_ADDITIONS`), and a first-round file takes a
    second round added to its protocol. Another protocol's file is
    refused (``ValueError`` naming the fields that differ)."""
    stored = results['protocol']
    if stored is not None:
        stored = dict(PROTOCOL_ADDITIONS, **stored)
        if stored['second_round'] is None:
            stored['second_round'] = snapshot['second_round']
    if stored is None or stored == snapshot:
        results['protocol'] = snapshot
        return
    changed = sorted(k for k in snapshot if snapshot[k] != stored.get(k))
    raise ValueError(
        f'{results_path} holds runs of another protocol (differs in '
        f'{", ".join(changed)}); give another --results file or remove it '
        f'to start over')
