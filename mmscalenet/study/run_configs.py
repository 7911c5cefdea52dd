# Copyright (c) mmscalenet contributors. All rights reserved.
"""The config of each run of a study: the model config of its kind with
the protocol's seed, schedule, data subset and, where they apply, the
allocated structure, the L1 penalty and the seed hooks. Built without a
Runner (tests read them as they are)."""
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config, ConfigDict

from ..apis.run_config import drop_validation, shorten_schedule, unformatted
from .protocol import MODEL_OF_KIND, StudyProtocol
from .run_key import RunKey


class RunConfigs:
    """Builds the run configs of ``protocol``.

    Args:
        protocol (StudyProtocol): The study.
        repo (str): Repository root (model configs, data root).
        work_dir (str): Where each run's work dir goes
            (``<work_dir>/<group>/<kind>``).

    Example:
        >>> protocol = StudyProtocol.fromfile('configs/studies/digits.py')
        >>> configs = RunConfigs(protocol, '.', 'work_dirs/demo')
        >>> cfg = configs.run_config('seed0/even', 'even', 0, None, None,
        ...                          selection=False)  # doctest: +SKIP
    """

    def __init__(self, protocol: StudyProtocol, repo: str, work_dir: str):
        self.protocol = protocol
        self.repo = repo
        self.work_dir = work_dir
        self._labels: Dict[str, List[int]] = {}

    def run_config(self, key: str, kind: str, seed: int,
                   structure: Optional[list], lambda_l1: Optional[float],
                   selection: bool, allocate: bool = False) -> Config:
        """The config of one run: the model config of its kind with the
        protocol's seed, schedule, data and, where they apply, structure and
        penalty."""
        p = self.protocol
        path = osp.join(self.repo, p.models[MODEL_OF_KIND[kind]])
        cfg = unformatted(Config.fromfile(path))
        cfg.work_dir = osp.join(self.work_dir, *RunKey.parse(key))
        cfg.randomness = dict(seed=seed, deterministic=False)
        cfg.resume = True  # from the run's own last epoch, if it has one
        epochs = (p.second_round.long_seed_epochs if kind == 'seed-long'
                  else p.epochs)
        if epochs is not None:
            shorten_schedule(cfg, epochs)
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=1, max_keep_ckpts=1)
        # The test split once, at the end (runner.test), no validation.
        drop_validation(cfg)
        if p.data_root is not None:
            root = osp.join(self.repo, p.data_root)
            cfg.train_dataloader.dataset.data_root = root
            cfg.test_dataloader.dataset.data_root = root
        self.subset_data(cfg, selection)
        if structure is not None:
            cfg.model.backbone.structure = structure
            cfg.custom_hooks = []
        if kind.startswith('seed'):
            hooks = [
                h for h in cfg.get('custom_hooks', [])
                if h['type'] != 'GammaSparsityHook'
            ]
            if lambda_l1:
                hooks.insert(
                    0,
                    dict(
                        type='GammaSparsityHook',
                        lambda_l1=lambda_l1,
                        weighting=p.sparsity.weighting))
            if selection and not allocate:
                hooks = [
                    h for h in hooks if h['type'] != 'NeuronAllocationHook'
                ]
            for hook in hooks:
                if hook['type'] == 'NeuronAllocationHook' and (
                        p.channel_divisor != 1):
                    hook['channel_divisor'] = p.channel_divisor
            if kind == 'seed-long':
                hooks.insert(0, dict(type='SeedReadinessHook'))
            cfg.custom_hooks = hooks
        return cfg

    def subset_data(self, cfg: Config, selection: bool) -> None:
        """Class-balanced subsets of the protocol (and of a selection run's
        training and held-out images), not serialized: a few hundred images
        gain nothing from it, and mmengine's serialization ends in a
        ``gc.collect()`` after the whole split was read."""
        from ..datasets.fashion_mnist import balanced_indices
        p = self.protocol
        train = cfg.train_dataloader.dataset
        if p.train_per_class is not None:
            labels = self.split_labels(train)
            per_class = p.train_per_class
            if selection:
                per_class -= p.sparsity.holdout_per_class
                cfg.test_dataloader = ConfigDict(cfg.test_dataloader)
                cfg.test_dataloader.dataset = dict(
                    cfg.test_dataloader.dataset,
                    split=train.get('split', 'train'),
                    test_mode=False,  # mmpretrain's MNIST reads by this
                    indices=balanced_indices(
                        labels,
                        p.sparsity.holdout_per_class,
                        skip_per_class=per_class),
                    serialize_data=False)
            train.indices = balanced_indices(labels, per_class)
            train.serialize_data = False
        if p.test_per_class is not None and not selection:
            test = cfg.test_dataloader.dataset
            test.indices = balanced_indices(
                self.split_labels(test), p.test_per_class)
            test.serialize_data = False

    def split_labels(self, dataset_cfg) -> List[int]:
        """Labels of the whole split a dataset config names, read once a
        split."""
        from mmpretrain.registry import DATASETS

        from .. import datasets  # noqa: F401  (registers DigitsDataset)
        cfg = dict(dataset_cfg, pipeline=[], serialize_data=False)
        cfg.pop('indices', None)
        key = repr(sorted(cfg.items()))
        if key not in self._labels:
            self._labels[key] = [
                int(x) for x in DATASETS.build(cfg).get_gt_labels()
            ]
        return self._labels[key]
