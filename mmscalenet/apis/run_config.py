# Copyright (c) mmscalenet contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` do to a config.

The command-line flags of mmdet's, mmpretrain's and mmseg's tools, applied
to an mmengine ``Config`` the way each library's own script applies them;
the library is the config's ``default_scope``.
"""
import os.path as osp
from typing import Optional, Sequence

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint_integrity import check_checkpoint_file

SUPPORTED_SCOPES = ('mmdet', 'mmpretrain', 'mmseg')


def config_scope(cfg: Config) -> str:
    """The library a config is for: its ``default_scope``, or, for a bare
    model config (``configs/_base_/models/*``), the library that registers
    its model type. mmdet, mmpretrain or mmseg; anything else is an
    error."""
    scope = cfg.get('default_scope', None)
    if scope is None and isinstance(cfg.get('model'), dict):
        scope = _scope_of_model_type(cfg.model.get('type'))
    if scope not in SUPPORTED_SCOPES:
        raise ValueError(
            f'default_scope must be one of {SUPPORTED_SCOPES} (the config '
            f'chooses MMDetection, MMPretrain or MMSegmentation), got '
            f'{scope!r}')
    return scope


def _scope_of_model_type(model_type) -> Optional[str]:
    import importlib
    for scope in ('mmpretrain', 'mmdet', 'mmseg'):
        try:
            registry = importlib.import_module(f'{scope}.registry').MODELS
        except ImportError:  # mmseg is optional
            continue
        registry.import_from_location()
        if model_type in registry.module_dict:
            return scope
    return None


def prepare_train_cfg(cfg: Config,
                      amp: bool = False,
                      auto_scale_lr: bool = False,
                      resume: Optional[str] = None,
                      no_validate: bool = False) -> Config:
    """Apply the train script's flags to ``cfg`` in place and return it."""
    cfg.default_scope = config_scope(cfg)
    if amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current')
        elif optim_wrapper != 'OptimWrapper':
            raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, '
                             f'got {optim_wrapper!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if auto_scale_lr:
        if ('auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr
                and 'base_batch_size' in cfg.auto_scale_lr):
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume
    if no_validate:
        drop_validation(cfg)
    return cfg


def drop_validation(cfg: Config) -> Config:
    """No validation during training (``--no-validate``): the val loop,
    its data and evaluator and the train loop's interval go; returns
    ``cfg``."""
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if cfg.get('train_cfg'):
        cfg.train_cfg.pop('val_interval', None)
    return cfg


def shorten_schedule(cfg: Config, epochs: int) -> Config:
    """Train ``cfg`` for ``epochs`` epochs, its cosine schedule over them
    (``param_scheduler`` a dict with ``T_max`` and ``end``: the study's
    and the demo's configs), without validation; returns ``cfg``.

    Example:
        >>> cfg = Config.fromfile(  # doctest: +SKIP
        ...     'configs/demo/scalenet38-seed_1xb64_digits.py')
        >>> shorten_schedule(cfg, 2).train_cfg.max_epochs  # doctest: +SKIP
        2
    """
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler.T_max = cfg.param_scheduler.end = epochs
    return drop_validation(cfg)


def unformatted(cfg: Config) -> Config:
    """``cfg`` as a config whose text mmengine does not format: the Runner
    formats it with yapf at the log, the dump and every checkpoint (0.1-0.2 s
    each), a cost that adds up in a tool that builds many short runs.

    Example:
        >>> cfg = unformatted(Config(dict(a=1)))
        >>> cfg._format_python_code
        False
    """
    # (mmengine 0.10's fromfile drops format_python_code for such a config;
    # Config reads its filename's text, and Config.fromstring's temporary
    # file is gone.)
    filename = cfg.filename if osp.isfile(cfg.filename or '') else None
    return Config(cfg.to_dict(), filename=filename, format_python_code=False)


def prepare_test_cfg(cfg: Config,
                     checkpoint: str,
                     out: Optional[str] = None,
                     show: bool = False,
                     show_dir: Optional[str] = None,
                     wait_time: float = 2,
                     interval: Optional[int] = None) -> Config:
    """Apply the test script's flags to ``cfg`` in place and return it.

    ``out`` appends the library's dump metric, as mmdet's
    (``DumpDetResults``) and mmpretrain's (``DumpResults``) test scripts do
    (a .pkl file); for mmseg it is a folder, where ``IoUMetric`` writes the
    predicted label maps as PNGs (``output_dir``, ``keep_results``), as
    mmseg's test script does. ``show``/``show_dir`` turn the config's
    ``VisualizationHook`` on as each library's test script does:
    predictions drawn on the images, shown in a window and/or saved under
    ``work_dir/<timestamp>/<show_dir>``. ``interval`` draws every
    ``interval``-th test iteration (classification: default 1, as
    mmpretrain's script; segmentation: default the hook's own, 50 in
    mmseg, whose script has no such flag).
    """
    scope = cfg.default_scope = config_scope(cfg)
    if interval is not None and interval < 1:
        raise ValueError(f'--interval must be at least 1, got {interval}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    cfg.load_from = checkpoint
    if out is not None and scope == 'mmseg':  # mmseg's tools/test.py
        evaluator = cfg.test_evaluator
        if not isinstance(evaluator, dict):
            raise ValueError(f'--out needs one test_evaluator (IoUMetric), '
                             f'got {type(evaluator).__name__}')
        evaluator.update(output_dir=out, keep_results=True)
    elif out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, '
                             f'got {out!r}')
        dump = dict(
            type='DumpDetResults' if scope == 'mmdet' else 'DumpResults',
            out_file_path=out)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = list(evaluator) + [dump]
        else:
            cfg.test_evaluator = [evaluator, dump]
    if show or show_dir is not None:
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise ValueError(
                '--show/--show-dir need a VisualizationHook in the config\'s '
                'default_hooks, e.g. default_hooks = dict(visualization=dict('
                "type='VisualizationHook'))")
        # as mmdet.engine.hooks.utils.trigger_visualization_hook
        if scope == 'mmdet':
            hook['draw'] = True
            if show:
                hook.update(show=True, wait_time=wait_time)
            if show_dir is not None:
                hook['test_out_dir'] = show_dir
        elif scope == 'mmseg':  # mmseg's tools/test.py
            hook['draw'] = True
            if show:
                hook.update(show=True, wait_time=wait_time)
            if show_dir is not None:
                cfg.visualizer['save_dir'] = show_dir
            if interval is not None:
                hook['interval'] = interval
        else:  # mmpretrain's tools/test.py
            hook.update(enable=True, show=show, wait_time=wait_time,
                        out_dir=show_dir, interval=interval or 1)
    return cfg


def check_checkpoint_files(cfg: Config,
                           what: Optional[str] = None) -> None:
    """Refuse, in one line naming it, a truncated or corrupt checkpoint the
    run would load: ``load_from`` (``what`` names it; by default
    ``'--resume checkpoint'`` when resuming, else ``'load_from
    checkpoint'``), or with ``resume`` and no ``load_from`` the latest one
    the work dir's ``last_checkpoint`` names (mmengine's auto-resume). Run
    after the flags and the data are checked, before the Runner is built.
    """
    load_from = cfg.get('load_from')
    if isinstance(load_from, str) and '://' not in load_from:
        if what is None:
            what = ('--resume checkpoint' if cfg.get('resume')
                    else 'load_from checkpoint')
        check_checkpoint_file(load_from, what)
    elif cfg.get('resume') is True and cfg.get('work_dir'):
        last = osp.join(cfg.work_dir, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                latest = f.read().strip()
            if latest:
                check_checkpoint_file(
                    latest, f'--resume checkpoint (from {last})')


#: Where the documentation says how to get each dataset the configs name.
DATA_HELP = {
    'CocoDataset': 'docs/detection.md (tools/make_toy_coco.py writes a toy '
    'set in the same layout)',
    'ImageNet': 'docs/classification.md',
    'CIFAR100': 'docs/classification.md',
    'FashionMNIST': 'docs/study.md (python tools/prepare_fashion_mnist.py)',
    'CityscapesDataset': 'docs/segmentation.md',
    'BaseSegDataset': 'docs/segmentation.md (tools/make_toy_seg.py writes a '
    'toy set in the Cityscapes layout)',
}


def check_data_roots(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise a ``FileNotFoundError`` naming the first data path of the
    ``loaders`` (``'train_dataloader'``, ...) that does not exist.

    Checks each dataset's ``data_root`` and its ``ann_file`` (relative to the
    root), through dataset wrappers (``RepeatDataset``, ...); a dataset that
    downloads itself (``download=True``) or names no root is left alone. Run
    before the Runner is built, so that a missing dataset is one line naming
    the path and the documentation page that explains it, not a traceback from
    pycocotools or os.
    """
    for name in loaders:
        dataset = (cfg.get(name) or {}).get('dataset')
        while isinstance(dataset, dict) and 'dataset' in dataset:
            dataset = dataset['dataset']
        if not isinstance(dataset, dict) or dataset.get('download'):
            continue
        root = dataset.get('data_root') or ''
        ann_file = dataset.get('ann_file') or ''
        paths = [('data_root', root)] if root else []
        if ann_file:
            paths.append(('ann_file', osp.join(root, ann_file)))
        for key, path in paths:
            if not osp.exists(path):
                kind = str(dataset.get('type', 'dataset')).split('.')[-1]
                where = DATA_HELP.get(kind, 'the dataset\'s documentation')
                raise FileNotFoundError(
                    f'{name}.dataset.{key} {path!r} does not exist: the '
                    f'{kind} data is missing (how to prepare it: {where}; '
                    f'another location: --cfg-options '
                    f'{name}.dataset.data_root=DIR)')


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start the process group on a machine without CUDA.

    mmengine 0.10's ``init_dist`` calls ``torch.cuda.set_device`` for the
    pytorch launcher, which fails without a GPU; the Runner skips its own
    initialisation when a group exists, so start one here with gloo (the
    only CPU backend; a configured ``nccl`` is replaced by it).
    """
    if (launcher != 'pytorch' or torch.cuda.is_available()
            or torch_dist.is_initialized()):
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    if dist_cfg.pop('backend', 'gloo') != 'gloo':
        print_log('no CUDA device: using the gloo backend', logger='current')
    cfg.setdefault('env_cfg', {})['dist_cfg'] = dict(dist_cfg, backend='gloo')
    cfg.model_wrapper_cfg = dict(
        cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'),
        device_ids=None)
    torch_dist.init_process_group(backend='gloo', **dist_cfg)


def finish_distributed() -> None:
    """Wait for every rank, then shut the process group down.

    Called by ``tools/train.py`` and ``tools/test.py`` after a run that
    succeeded. Left to interpreter exit, the group's communication threads
    are torn down in whatever order each process exits, while a peer may
    still be talking to them; destroying the group explicitly is what
    PyTorch asks of every launcher. A no-op without a process group.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
