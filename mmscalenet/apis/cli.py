# Copyright (c) mmscalenet contributors. All rights reserved.
"""Command-line pieces shared by the tools, as mmdet/mmpretrain spell them."""
import argparse
import contextlib
import os
import os.path as osp
import sys
from typing import Optional

from mmengine.config import Config, DictAction


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options k=v ...``: settings merged into the config."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` and ``--local_rank`` (``--local-rank`` since torch 2)."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def read_config(path: str) -> Config:
    """``Config.fromfile(path)``, with a clear error where the file is
    missing or where its ``mmdet::``/``mmpretrain::`` bases cannot be found
    because ``pkg_resources`` (setuptools < 70 here) is missing."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config not found: {path}')
    try:
        return Config.fromfile(path)
    except ModuleNotFoundError as e:
        if e.name != 'pkg_resources':
            raise
        raise ValueError(
            f'{path} inherits from an installed package\'s configs '
            f'(mmdet:: or mmpretrain:: bases), which mmengine finds through '
            f'pkg_resources, and pkg_resources is not installed: pip install '
            f'"setuptools<70"') from None


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: Optional[str] = None,
                local_rank: int = 0) -> Config:
    """Read ``path``, merge ``cfg_options`` and settle the work dir
    (CLI > config > ``./work_dirs/<config stem>``), as the MM tools do."""
    if launcher is not None and 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)
    cfg = read_config(path)
    if launcher is not None:
        cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


@contextlib.contextmanager
def exit_on_bad_input():
    """End a tool with ``error: <message>`` (exit status 1, one line on
    stderr) instead of a traceback when what the user gave is wrong: wrap the
    reading of the arguments and the config in it (a missing file, a bad
    flag value, a config of an unsupported library), not the training or
    testing, whose errors keep their traceback.

    Example:
        >>> with exit_on_bad_input():
        ...     cfg = load_config(args.config)  # doctest: +SKIP
    """
    try:
        yield
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
