# Copyright (c) mmscalenet contributors. All rights reserved.
"""What an allocation leaves in a work dir: the spec, a retrain config and
the plot (shared by the hook and ``tools/allocate.py``)."""
import copy
import importlib.util
import logging
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..fileio import atomic_path
from ..models.channel_spec import ChannelSpec
from .plot import plot_allocation

HOOK_TYPES = ('NeuronAllocationHook', 'mmscalenet.NeuronAllocationHook')


def free_path(path: str) -> str:
    """``path``, or ``stem_1.ext``, ``stem_2.ext``... if it exists: an
    existing file is never overwritten."""
    if not osp.exists(path):
        return path
    root, ext = osp.splitext(path)
    n = 1
    while osp.exists(f'{root}_{n}{ext}'):
        n += 1
    print_log(
        f'{path} exists; writing {root}_{n}{ext} instead (nothing is '
        f'overwritten)',
        logger='current',
        level=logging.WARNING)
    return f'{root}_{n}{ext}'


def _find_scalenet_cfg(node):
    """The dict of the ScaleNet backbone inside a model config."""
    if isinstance(node, dict):
        if str(node.get('type', '')).split('.')[-1].endswith('ScaleNet'):
            return node
        for value in node.values():
            found = _find_scalenet_cfg(value)
            if found is not None:
                return found
    elif isinstance(node, (list, tuple)):
        for value in node:
            found = _find_scalenet_cfg(value)
            if found is not None:
                return found
    return None


def check_out_dir(out_dir: str,
                  contents: str = 'the spec, config and plot') -> None:
    """Raise naming ``out_dir`` unless it is, or can be created as, a
    folder this process can write in: ``NotADirectoryError`` when it, or
    the nearest folder above it that exists, is a file, ``PermissionError``
    when that folder is not writable (checked before any work, nothing is
    written). ``contents`` says what the folder is for, in the message."""
    path = osp.abspath(out_dir)
    while not osp.exists(path):
        path = osp.dirname(path)
    if not osp.isdir(path):
        raise NotADirectoryError(
            f'{out_dir} is a file; give a directory (created if missing) '
            f'for {contents}' if path == osp.abspath(out_dir) else
            f'{out_dir} is below {path}, which is a file; give a directory '
            f'(created if missing) for {contents}')
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f'cannot write in {path}, where {out_dir} '
                              f'would be written')


def retrain_config(seed_cfg: Config, spec_path: str) -> Config:
    """The seed config with the allocated spec in place of the seed spec,
    without the allocation hook or any checkpoint to start from: the
    allocated net is retrained from scratch."""
    cfg = Config(copy.deepcopy(seed_cfg.to_dict()))
    backbone = _find_scalenet_cfg(cfg.model)
    if backbone is None:
        raise ValueError('the config\'s model has no ScaleNet backbone to '
                         'put the allocated spec into')
    backbone['structure'] = osp.abspath(spec_path)
    hooks = [
        h for h in cfg.get('custom_hooks', []) or []
        if h.get('type') not in HOOK_TYPES
    ]
    cfg.custom_hooks = hooks
    cfg.load_from = None
    cfg.resume = False
    cfg.pop('work_dir', None)
    return cfg


def write_allocation(spec: ChannelSpec,
                     out_dir: str,
                     seed_cfg: Optional[Config] = None,
                     spec_name: str = 'allocated_spec.json',
                     plot: bool = True,
                     title: Optional[str] = None) -> Dict[str, str]:
    """Write the spec (and the retrain config, the plot) into ``out_dir``.

    Every file is written atomically and under a free name.

    Returns:
        dict: Paths written, keys ``spec``, ``config``, ``plot``.

    Raises:
        NotADirectoryError: ``out_dir`` (or a folder above it) is a file;
            nothing is written.
    """
    check_out_dir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = {'spec': free_path(osp.join(out_dir, spec_name))}
    spec.dump(paths['spec'])
    stem = osp.splitext(osp.basename(paths['spec']))[0]
    if seed_cfg is not None and _find_scalenet_cfg(
            seed_cfg.get('model')) is None:
        print_log(
            'the run\'s config describes no ScaleNet backbone (a model '
            'built in code?): no retrain config is written, only the spec',
            logger='current',
            level=logging.WARNING)
    elif seed_cfg is not None:
        cfg = retrain_config(seed_cfg, paths['spec'])
        paths['config'] = free_path(osp.join(out_dir, f'retrain_{stem}.py'))
        with atomic_path(paths['config']) as tmp:
            cfg.dump(tmp)
    if plot and importlib.util.find_spec('matplotlib') is None:
        print_log(
            'matplotlib is not installed: no allocation plot is drawn (pip '
            'install matplotlib, or mmscalenet[plot]); the spec and the '
            'config are written',
            logger='current',
            level=logging.WARNING)
    elif plot:
        paths['plot'] = free_path(osp.join(out_dir, f'{stem}.png'))
        plot_allocation(spec, paths['plot'], title=title)
    return paths
