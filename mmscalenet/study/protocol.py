# Copyright (c) mmscalenet contributors. All rights reserved.
"""What an allocation study runs: its protocol, read from a config file."""
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from mmengine.config import Config

#: The runs of one seed, in the order they are trained, and what each is.
RUN_KINDS = {
    'seed': 'ScaleNet seed (C at every scale)',
    'allocated': 'ScaleNet data-driven (plain seed)',
    'even': 'ScaleNet even',
    'resnet': 'ResNet (bottleneck)',
    'resnet-wide': 'ResNet widened to ScaleNet MACs',
    'seed-l1': 'ScaleNet seed + L1 on gammas',
    'allocated-l1': 'ScaleNet data-driven (L1 seed)',
}
#: Which model config each run kind trains (allocated nets: the seed config
#: with the allocated rows as the structure and no hooks).
MODEL_OF_KIND = {
    'seed': 'seed',
    'allocated': 'seed',
    'even': 'even',
    'resnet': 'resnet',
    'resnet-wide': 'resnet_wide',
    'seed-l1': 'seed',
    'allocated-l1': 'seed',
}
DATASETS = ('digits', 'fashion-mnist')


class ProtocolError(ValueError):
    """A study protocol file is incomplete or inconsistent."""


@dataclass
class SparsitySelection:
    """How the seed's L1 strength is chosen, on held-out training images.

    The seed net (first seed of the protocol) is trained on
    ``per_class - holdout_per_class`` images per class of the training subset
    with each ``lambda_l1`` in ``lambdas`` and without the penalty, and
    evaluated on the ``holdout_per_class`` images per class it did not see.
    The chosen strength is the largest whose held-out top-1 is within
    ``tolerance`` points of the unpenalised seed's (Network Slimming's aim:
    sparse gammas at no cost in accuracy); the smallest where none is.
    """
    lambdas: List[float]
    holdout_per_class: int
    tolerance: float = 1.0
    weighting: str = 'uniform'


@dataclass
class StudyProtocol:
    """One allocation study: data, schedule, seeds and models.

    Attributes:
        name (str): Name of the study (file names of its outputs).
        dataset (str): ``'digits'`` or ``'fashion-mnist'``.
        models (dict): Config paths (relative to the repository) of the
            ``seed``, ``even`` and ``resnet`` models and optionally
            ``resnet_wide``.
        seeds (list[int]): Seeds of initialisation and data order; every
            model is trained once per seed.
        epochs (int, optional): Epochs of every run; None keeps the configs'.
        train_per_class (int, optional): Class-balanced training subset;
            None trains on the whole training split.
        test_per_class (int, optional): Class-balanced test subset, for
            smoke runs only; None evaluates the whole test split.
        data_root (str, optional): Data folder (fashion-mnist).
        results (str): Results file (relative to the repository).
        sparsity (SparsitySelection, optional): The penalised seed and its
            selection; None trains no penalised seed.
        description (str): What the protocol is for.
    """
    name: str
    dataset: str
    models: Dict[str, str]
    seeds: List[int]
    results: str
    epochs: Optional[int] = None
    train_per_class: Optional[int] = None
    test_per_class: Optional[int] = None
    data_root: Optional[str] = None
    sparsity: Optional[SparsitySelection] = None
    description: str = ''
    kinds: List[str] = field(default_factory=list)

    @classmethod
    def fromfile(cls, path: str) -> 'StudyProtocol':
        """Read a protocol config (``configs/studies/*.py``)."""
        if not osp.isfile(path):
            raise ProtocolError(f'study protocol not found: {path}')
        cfg = Config.fromfile(path)
        missing = [k for k in ('name', 'dataset', 'models', 'seeds',
                               'results') if k not in cfg]
        if missing:
            raise ProtocolError(f'{path}: missing {", ".join(missing)}')
        sparsity = cfg.get('sparsity')
        protocol = cls(
            name=cfg.name,
            dataset=cfg.dataset,
            models=dict(cfg.models),
            seeds=list(cfg.seeds),
            results=cfg.results,
            epochs=cfg.get('epochs'),
            train_per_class=cfg.get('train_per_class'),
            test_per_class=cfg.get('test_per_class'),
            data_root=cfg.get('data_root'),
            sparsity=SparsitySelection(**sparsity) if sparsity else None,
            description=cfg.get('description', ''))
        protocol.validate(path)
        return protocol

    def validate(self, where: str = 'protocol') -> None:
        if self.dataset not in DATASETS:
            raise ProtocolError(f'{where}: dataset must be one of '
                                f'{DATASETS}, got {self.dataset!r}')
        for needed in ('seed', 'even', 'resnet'):
            if needed not in self.models:
                raise ProtocolError(f'{where}: models needs a {needed!r} '
                                    f'config, got {sorted(self.models)}')
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ProtocolError(f'{where}: seeds must be distinct and at '
                                f'least one, got {self.seeds}')
        for name in ('epochs', 'train_per_class', 'test_per_class'):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int)
                                      or value < 1):
                raise ProtocolError(f'{where}: {name} must be a positive '
                                    f'integer or None, got {value!r}')
        if self.sparsity is not None:
            s = self.sparsity
            if not s.lambdas or any(not lam > 0 for lam in s.lambdas):
                raise ProtocolError(f'{where}: sparsity.lambdas must be '
                                    f'positive, got {s.lambdas}')
            if self.train_per_class is None or not (
                    0 < s.holdout_per_class < self.train_per_class):
                raise ProtocolError(
                    f'{where}: sparsity.holdout_per_class must be between 0 '
                    f'and train_per_class ({self.train_per_class}), got '
                    f'{s.holdout_per_class}')
        self.kinds = [
            k for k in RUN_KINDS
            if MODEL_OF_KIND[k] in self.models and (
                not k.endswith('-l1') or self.sparsity is not None)
        ]

    def to_dict(self) -> dict:
        return asdict(self)
