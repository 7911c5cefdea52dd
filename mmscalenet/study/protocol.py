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
#: The second round's runs of one seed (``second_round`` in a protocol),
#: in training order within their phase (see
#: :meth:`AllocationStudy.planned_keys`).
SECOND_ROUND_KINDS = {
    'even-matched': 'ScaleNet even at the data-driven net\'s MACs',
    'allocated-rerun': 'ScaleNet data-driven (plain seed), trained again',
    'seed-long': 'ScaleNet seed, long schedule',
    'allocated-long': 'ScaleNet data-driven (long seed)',
    'even-matched-long': 'ScaleNet even at the long seed\'s net\'s MACs',
    'seed-l1-ranked': 'ScaleNet seed + L1, ranked strength',
    'allocated-l1-ranked': 'ScaleNet data-driven (ranked L1 seed)',
    'even-matched-l1-ranked': 'ScaleNet even at the ranked L1 net\'s MACs',
    'even-matched-l1': 'ScaleNet even at the L1 net\'s MACs',
}
#: Which run's MACs each even-matched kind matches.
MATCHED_TO = {
    'even-matched': 'allocated',
    'even-matched-long': 'allocated-long',
    'even-matched-l1-ranked': 'allocated-l1-ranked',
    'even-matched-l1': 'allocated-l1',
}
#: Which seed net each data-driven kind retrains the allocation of.
SEED_OF = {
    'allocated': 'seed',
    'allocated-rerun': 'seed',
    'allocated-l1': 'seed-l1',
    'allocated-long': 'seed-long',
    'allocated-l1-ranked': 'seed-l1-ranked',
}
ALL_KINDS = {**RUN_KINDS, **SECOND_ROUND_KINDS}
MODEL_OF_KIND.update({
    kind: 'even' if kind in MATCHED_TO else 'seed'
    for kind in SECOND_ROUND_KINDS
})
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
class SecondRound:
    """The second round: the allocation against even at equal MACs, from a
    long seed and from a seed whose L1 strength keeps the budget's cut
    inside ranked neurons.

    Every data-driven net gets an even net whose whole-network MACs are
    within ``match_tolerance`` of its own (the even allocation's budget
    ratio searched). The long seed is the plain seed trained
    ``long_seed_epochs`` epochs with :class:`SeedReadinessHook`; its
    allocation is retrained with the standard schedule. The ranked L1
    strength is chosen on the selection split (first seed, the held-out
    images of :class:`SparsitySelection` left out): the largest of
    ``lambdas`` whose allocation keeps at most ``max_near_zero_share`` of
    its neurons at |gamma| near 0; the smallest where none does.
    """
    long_seed_epochs: int
    lambdas: List[float]
    match_tolerance: float = 0.01
    max_near_zero_share: float = 0.10


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
        second_round (SecondRound, optional): The second round's runs;
            None trains none (a results file of the first round alone
            takes a second round added later).
        channel_divisor (int): The seed nets' allocations keep every
            scale a multiple of this (``NeuronAllocationHook``). Defaults
            to 1 (the paper).
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
    second_round: Optional[SecondRound] = None
    channel_divisor: int = 1
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
        second_round = cfg.get('second_round')
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
            second_round=(SecondRound(**second_round)
                          if second_round else None),
            channel_divisor=cfg.get('channel_divisor', 1),
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
        if isinstance(self.channel_divisor, bool) or not isinstance(
                self.channel_divisor, int) or self.channel_divisor < 1:
            raise ProtocolError(f'{where}: channel_divisor must be a positive '
                                f'integer, got {self.channel_divisor!r}')
        if self.second_round is not None:
            r = self.second_round
            if self.sparsity is None:
                raise ProtocolError(f'{where}: second_round needs the '
                                    f'sparsity section (its selection split)')
            if not isinstance(r.long_seed_epochs, int) or (
                    r.long_seed_epochs < 1):
                raise ProtocolError(f'{where}: second_round.long_seed_epochs '
                                    f'must be a positive integer, got '
                                    f'{r.long_seed_epochs!r}')
            if not r.lambdas or any(not lam > 0 for lam in r.lambdas):
                raise ProtocolError(f'{where}: second_round.lambdas must be '
                                    f'positive, got {r.lambdas}')
            if not 0 < r.match_tolerance < 1:
                raise ProtocolError(f'{where}: second_round.match_tolerance '
                                    f'must be in (0, 1), got '
                                    f'{r.match_tolerance}')
        self.kinds = [
            k for k in RUN_KINDS
            if MODEL_OF_KIND[k] in self.models and (
                not k.endswith('-l1') or self.sparsity is not None)
        ]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> 'StudyProtocol':
        """The protocol :meth:`to_dict` wrote (kinds included)."""
        data = dict(data)
        sparsity = data.pop('sparsity', None)
        second_round = data.pop('second_round', None)
        kinds = data.pop('kinds', [])
        protocol = cls(
            **data,
            sparsity=SparsitySelection(**sparsity) if sparsity else None,
            second_round=SecondRound(**second_round)
            if second_round else None)
        protocol.kinds = kinds
        return protocol
