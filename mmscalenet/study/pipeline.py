# Copyright (c) mmscalenet contributors. All rights reserved.
"""The allocation study's runs: train, evaluate, record, resume.

Every run is a fresh mmengine ``Runner`` on a config derived from the
protocol's model configs; its record (top-1, MACs, parameters, minutes, the
channel spec it used and, for a seed net, its gammas and allocation) is added
to the results file as soon as it finishes, so an interrupted study resumes
at the first run without a record. A run that was interrupted itself resumes
from its last epoch checkpoint in its work dir.
"""
import datetime
import fcntl
import json
import os
import os.path as osp
import platform
import socket
import time
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterator, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from ..allocation.seed_net import find_scalenet, seed_importance
from ..analysis import config_model_complexity
from ..engine import NeuronAllocationHook, SeedReadinessHook
from .matching import even_at_macs
from .protocol import (ALL_KINDS, MATCHED_TO, MODEL_OF_KIND, SEED_OF,
                       StudyProtocol)

#: Protocol fields added after results files were written, and the value a
#: file without them had.
PROTOCOL_ADDITIONS = dict(second_round=None, channel_divisor=1)
#: Kinds trained with the first round's L1 strength, and with the second's.
FIRST_L1_KINDS = ('seed-l1', 'allocated-l1')
RANKED_L1_KINDS = ('seed-l1-ranked', 'allocated-l1-ranked')


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
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(results, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def select_lambda(holdout_top1: Dict[float, float], tolerance: float) -> float:
    """The largest strength whose held-out top-1 is within ``tolerance``
    points of the unpenalised run's (key 0.0); the smallest where none is.

    Example:
        >>> select_lambda({0.0: 90.0, 1e-4: 90.2, 1e-3: 89.5, 1e-2: 85.0},
        ...               tolerance=1.0)
        0.001
    """
    reference = holdout_top1[0.0]
    strengths = sorted(lam for lam in holdout_top1 if lam > 0)
    within = [
        lam for lam in strengths
        if holdout_top1[lam] >= reference - tolerance
    ]
    return max(within) if within else min(strengths)


class AllocationStudy:
    """Runs a :class:`StudyProtocol` and keeps its results file.

    Args:
        protocol (StudyProtocol): What to run.
        repo (str): Repository root (model configs and relative paths).
        work_dir (str): Where the runs' work dirs go.
        results_path (str, optional): The results file; None keeps the
            results in memory only.
        log (Callable[[str], None]): Progress messages. Defaults to print.

    Example:
        >>> protocol = StudyProtocol.fromfile('configs/studies/digits.py')
        >>> study = AllocationStudy(protocol, '.', 'work_dirs/demo',
        ...                         'work_dirs/demo/results.json')
        >>> results = study.run()  # doctest: +SKIP
    """

    def __init__(self,
                 protocol: StudyProtocol,
                 repo: str,
                 work_dir: str,
                 results_path: Optional[str],
                 log: Callable[[str], None] = print):
        self.protocol = protocol
        self.repo = repo
        self.work_dir = osp.abspath(work_dir)
        self.results_path = results_path
        self.log = log
        self.results = (read_results(results_path) if results_path else
                        dict(protocol=None, runs={}))
        snapshot = protocol.to_dict()
        stored = self.results['protocol']
        if stored is not None:
            # Fields added to protocols after results files were written
            # read as their defaults there, and a first-round file takes a
            # second round added to its protocol (its runs stay as they
            # are).
            stored = dict(PROTOCOL_ADDITIONS, **stored)
            if stored['second_round'] is None:
                stored['second_round'] = snapshot['second_round']
        if stored is None or stored == snapshot:
            self.results['protocol'] = snapshot
        else:
            changed = sorted(
                k for k in snapshot
                if snapshot[k] != stored.get(k))
            raise ValueError(
                f'{results_path} holds runs of another protocol (differs in '
                f'{", ".join(changed)}); give another --results file or '
                f'remove it to start over')
        self._labels: Optional[List[int]] = None
        #: Side of the input every model of the study is measured at: the
        #: reference size of the seed ScaleNet (32 for CIFAR nets).
        seed_cfg = Config.fromfile(osp.join(repo, protocol.models['seed']))
        self.input_side = seed_cfg.model.backbone.get('reference_size', 32)

    # ------------------------------------------------------------ the plan
    def planned_keys(self) -> List[str]:
        """Every run of the study, in training order (selection runs are
        trained when the first penalised seed needs them)."""
        seeds = self.protocol.seeds
        keys = [f'seed{s}/{kind}' for s in seeds
                for kind in self.protocol.kinds]
        if self.protocol.second_round is None:
            return keys
        # The second round by phase, so that each question is answered for
        # every seed before the next starts: the allocation against even
        # at equal MACs (plain seed; the first round's data-driven net is
        # trained again beside it, so that the pair shares a machine), the
        # long seed, the ranked L1 strength and, last, the first round's L1
        # allocations at equal MACs.
        phases = [('even-matched', 'allocated-rerun'),
                  ('seed-long', 'allocated-long', 'even-matched-long'),
                  RANKED_L1_KINDS + ('even-matched-l1-ranked', ),
                  ('even-matched-l1', )]
        for phase in phases:
            keys += [f'seed{s}/{kind}' for s in seeds for kind in phase
                     if MODEL_OF_KIND[kind] in self.protocol.models]
        return keys

    def selection_keys(self) -> List[str]:
        sparsity = self.protocol.sparsity
        if sparsity is None:
            return []
        return [f'select/lambda={lam:g}' for lam in [0.0] + sparsity.lambdas]

    def ranked_selection_keys(self) -> List[str]:
        """The second round's selection runs: seeds on the selection split
        whose allocations choose the ranked L1 strength."""
        if self.protocol.second_round is None:
            return []
        return [f'select-ranked/lambda={lam:g}'
                for lam in self.protocol.second_round.lambdas]

    def run(self, workers: int = 1) -> dict:
        """Train every run that has no record yet; return the results.

        Args:
            workers (int): Runs trained at once, each in its own process
                (spawned), as soon as the runs it needs are done. 1 trains
                them one after the other in this process. Defaults to 1.
        """
        with ExitStack() as locks:
            if self.results_path is not None:
                locks.enter_context(
                    exclusive(f'{self.results_path}.lock',
                              f'results file {self.results_path}'))
            locks.enter_context(
                exclusive(osp.join(self.work_dir, '.study.lock'),
                          f'work dir {self.work_dir}'))
            if workers == 1:
                for key in self.training_order():
                    self.add_record(self.record_of(key))
                return self.results
            return self.run_parallel(workers)

    def training_order(self) -> List[str]:
        """The runs without a record, in the order :meth:`run` trains them
        one after the other: the planned order, each run preceded by the
        runs it needs (so the selection runs come just before the first
        penalised seed)."""
        runs = self.results['runs']
        order = []

        def visit(key):
            if key in runs or key in order:
                return
            for needed in self.dependencies(key):
                visit(needed)
            order.append(key)

        for key in self.planned_keys():
            visit(key)
        return order

    def dependencies(self, key: str) -> List[str]:
        """The runs whose records run ``key`` needs."""
        group, kind = key.split('/')
        if group.startswith('select'):
            return []
        if kind in SEED_OF:
            return [f'{group}/{SEED_OF[kind]}']
        if kind in MATCHED_TO:
            return [f'{group}/{MATCHED_TO[kind]}']
        if kind == 'seed-l1':
            return self.selection_keys()
        if kind == 'seed-l1-ranked':
            return self.ranked_selection_keys()
        return []

    def add_record(self, record: dict) -> None:
        self.results['runs'][record['key']] = record
        self.update_selection()
        if self.results_path is not None:
            write_results(self.results_path, self.results)

    def record_of(self, key: str) -> dict:
        """Train run ``key`` (the runs it needs have records) and return
        its record."""
        runs = self.results['runs']
        group, kind = key.split('/')
        if group == 'select':
            return self.train(key, 'seed-l1', self.protocol.seeds[0],
                              lambda_l1=float(kind.split('=')[1]),
                              selection=True)
        if group == 'select-ranked':
            return self.train(key, 'seed-l1-ranked', self.protocol.seeds[0],
                              lambda_l1=float(kind.split('=')[1]),
                              selection=True, allocate=True)
        seed = seed_of_group(group)
        structure = lambda_l1 = None
        extra = {}
        if kind in SEED_OF:
            structure = runs[f'{group}/{SEED_OF[kind]}']['allocation']
        if kind in FIRST_L1_KINDS:
            lambda_l1 = self.results['selection']['chosen']
        if kind in RANKED_L1_KINDS:
            lambda_l1 = self.results['selection_ranked']['chosen']
        if kind in MATCHED_TO:
            matched = self.match_even(runs[f'{group}/{MATCHED_TO[kind]}'])
            extra = dict(
                matched_to=f'{group}/{MATCHED_TO[kind]}',
                target_macs=matched.target,
                even_budget_ratio=matched.budget_ratio)
            same = next((r for r in self.even_nets_of(seed).values()
                         if r['spec'].get('rows') == matched.rows), None)
            if same is not None:
                self.log(f'{key}: the even net at {matched.macs} MACs is '
                         f'{same["key"]}\'s; its record is reused')
                return dict(same, key=key, kind=kind, same_run_as=same.get(
                    'same_run_as', same['key']), **extra)
            structure = matched.rows
        return dict(self.train(key, kind, seed, structure, lambda_l1),
                    **extra)

    def even_nets_of(self, seed: int) -> Dict[str, dict]:
        """The finished even nets of ``seed`` (first round and matched): an
        even-matched run whose net is one of them reuses its record."""
        return {
            k: r
            for k, r in self.results['runs'].items()
            if r.get('seed') == seed and r['kind'] in ('even', *MATCHED_TO)
            and not r.get('evaluated_on')
        }

    def records_read_by(self, key: str) -> Dict[str, dict]:
        """The finished records :meth:`record_of` reads for run ``key``:
        those of the runs it needs and, for an even net at matched MACs,
        the seed's even nets it may reuse."""
        runs = self.results['runs']
        records = {d: runs[d] for d in self.dependencies(key)}
        group, kind = key.split('/')
        if kind in MATCHED_TO:
            records.update(self.even_nets_of(seed_of_group(group)))
        return records

    def match_even(self, record: dict):
        """The even net at the MACs of ``record``'s net."""
        cfg = Config.fromfile(
            osp.join(self.repo, self.protocol.models['even']))
        return even_at_macs(cfg.model.to_dict(), record['macs'],
                            self.protocol.second_round.match_tolerance,
                            self.input_side)

    def run_parallel(self, workers: int) -> dict:
        """Train the missing runs in up to ``workers`` spawned processes."""
        import concurrent.futures as cf
        import multiprocessing
        runs = self.results['runs']
        pending = self.training_order()
        running = {}
        with cf.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context('spawn')) as pool:
            while pending or running:
                for key in [k for k in pending
                            if all(d in runs for d in self.dependencies(k))]:
                    if len(running) == workers:
                        break
                    pending.remove(key)
                    running[pool.submit(
                        train_in_process, self.protocol.to_dict(), self.repo,
                        self.work_dir, key, self.records_read_by(key), {
                            k: self.results[k]
                            for k in ('selection', 'selection_ranked')
                            if k in self.results
                        })] = key
                    self.log(f'started {key} ({len(running)} running)')
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    self.add_record(future.result())
                    self.log(f'finished {key}: top-1 '
                             f'{runs[key]["top1"]:.2f}%')
        return self.results

    def update_selection(self) -> None:
        self.update_ranked_selection()
        sparsity = self.protocol.sparsity
        runs = self.results['runs']
        if sparsity is None or not all(k in runs
                                       for k in self.selection_keys()):
            return
        holdout = {
            runs[k]['lambda_l1']: runs[k]['top1']
            for k in self.selection_keys()
        }
        trained_per_class = (self.protocol.train_per_class -
                             sparsity.holdout_per_class)
        self.results['selection'] = dict(
            rule=f'largest lambda_l1 whose held-out top-1 is within '
            f'{sparsity.tolerance} points of the unpenalised seed\'s '
            f'(trained on {trained_per_class}'
            f' images per class, evaluated on the other '
            f'{sparsity.holdout_per_class} per class of the training '
            f'subset); the smallest where none is',
            holdout_top1={f'{lam:g}': top1 for lam, top1 in holdout.items()},
            chosen=select_lambda(holdout, sparsity.tolerance))

    def update_ranked_selection(self) -> None:
        """The second round's L1 strength, once its selection runs are
        done: the largest whose allocation keeps at most
        ``max_near_zero_share`` of its neurons near zero."""
        keys = self.ranked_selection_keys()
        runs = self.results['runs']
        if not keys or not all(k in runs for k in keys):
            return
        limit = self.protocol.second_round.max_near_zero_share
        share = {runs[k]['lambda_l1']: runs[k]['near_zero_share']
                 for k in keys}
        within = [lam for lam in share if share[lam] <= limit]
        self.results['selection_ranked'] = dict(
            rule=f'largest lambda_l1 whose allocation (seed net trained on '
            f'the selection split) keeps at most {limit:.0%} of its neurons '
            f'at |gamma| near 0; the smallest where none does',
            near_zero_share={f'{lam:g}': v for lam, v in share.items()},
            holdout_top1={f'{runs[k]["lambda_l1"]:g}': runs[k]['top1']
                          for k in keys},
            chosen=max(within) if within else min(share))

    # ------------------------------------------------------------ one run
    def train(self,
              key: str,
              kind: str,
              seed: int,
              structure: Optional[list] = None,
              lambda_l1: Optional[float] = None,
              selection: bool = False,
              allocate: bool = False) -> dict:
        """Train and evaluate one run; return its record.

        A selection run (``selection``) trains on the selection split and
        is evaluated on its held-out images; with ``allocate`` it keeps its
        allocation hook (the second round's selection ranks by it).
        """
        cfg = self.run_config(key, kind, seed, structure, lambda_l1,
                              selection, allocate)
        self.log(f'\n==== {key}: {ALL_KINDS[kind]}, seed {seed}'
                 + (f', lambda_l1 {lambda_l1:g}' if lambda_l1 else '')
                 + f' ({cfg.work_dir}) ====')
        start = time.time()
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.test()
        minutes = (time.time() - start) / 60
        model = runner.model.eval()
        complexity = config_model_complexity(
            model, 'mmpretrain', (self.input_side, self.input_side))
        record = dict(
            key=key,
            kind=kind,
            seed=seed,
            top1=round(float(metrics['accuracy/top1']), 4),
            macs=complexity.macs,
            params=complexity.params,
            minutes=round(minutes, 2),
            epochs=cfg.train_cfg.max_epochs,
            train_images=len(runner.train_dataloader.dataset),
            test_images=len(runner.test_dataloader.dataset),
            lambda_l1=lambda_l1 if lambda_l1 is not None else 0.0,
            spec=self.spec_of(model),
            finished=datetime.datetime.now().isoformat(timespec='seconds'),
            machine=machine_info(),
        )
        if selection:
            record['evaluated_on'] = 'held-out training images'
        hooks = [h for h in runner.hooks
                 if isinstance(h, NeuronAllocationHook)]
        if hooks:
            result, diagnostics = hooks[0].result, hooks[0].diagnostics
            record['allocation'] = result.spec.rows()
            record['kept'] = [blk.kept for blk in result.blocks]
            record['gammas'] = [[[round(v, 6) for v in scale]
                                 for scale in block]
                                for block in seed_importance(
                                    find_scalenet(model))]
            record.update(
                moved_from_even=round(diagnostics.moved_from_even, 6),
                tied_share=round(diagnostics.tied_share, 6),
                near_zero_share=round(diagnostics.near_zero_share, 6),
                diagnostics_warning=diagnostics.warning())
        readiness = [h for h in runner.hooks
                     if isinstance(h, SeedReadinessHook)]
        if readiness:
            record['readiness'] = [
                {k: v for k, v in epoch.items()
                 if k not in ('summary', 'allocation')}
                for epoch in readiness[0].history]
        self.log(f'{key}: top-1 {record["top1"]:.2f}%, '
                 f'{record["macs"] / 1e6:.2f} M MACs, '
                 f'{record["minutes"]:.1f} min')
        return record

    @staticmethod
    def spec_of(model) -> dict:
        backbone = model.backbone
        if hasattr(backbone, 'spec'):
            return dict(type=type(backbone).__name__,
                        rows=backbone.spec.rows())
        widths = [getattr(backbone, name)[0].planes
                  for name in backbone.res_layers]
        return dict(type=type(backbone).__name__, widths=widths)

    def run_config(self, key: str, kind: str, seed: int,
                   structure: Optional[list], lambda_l1: Optional[float],
                   selection: bool, allocate: bool = False) -> Config:
        """The config of one run: the model config of its kind with the
        protocol's seed, schedule, data and, where they apply, structure and
        penalty."""
        p = self.protocol
        cfg = Config.fromfile(
            osp.join(self.repo, p.models[MODEL_OF_KIND[kind]]))
        cfg.work_dir = osp.join(self.work_dir, *key.split('/'))
        cfg.randomness = dict(seed=seed, deterministic=False)
        cfg.resume = True  # from the run's own last epoch, if it has one
        epochs = (p.second_round.long_seed_epochs if kind == 'seed-long'
                  else p.epochs)
        if epochs is not None:
            cfg.train_cfg.max_epochs = epochs
            cfg.param_scheduler.T_max = epochs
            cfg.param_scheduler.end = epochs
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=1, max_keep_ckpts=1)
        # The test split once, at the end (runner.test), no validation.
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.train_cfg.pop('val_interval', None)
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
        training and held-out images)."""
        from ..datasets.fashion_mnist import balanced_indices
        p = self.protocol
        train = cfg.train_dataloader.dataset
        if p.train_per_class is not None:
            labels = self.train_labels(cfg)
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
                        skip_per_class=per_class))
            train.indices = balanced_indices(labels, per_class)
        if p.test_per_class is not None and not selection:
            test_labels = self.dataset_labels(cfg.test_dataloader.dataset)
            cfg.test_dataloader.dataset.indices = balanced_indices(
                test_labels, p.test_per_class)

    def train_labels(self, cfg: Config) -> List[int]:
        if self._labels is None:
            self._labels = self.dataset_labels(cfg.train_dataloader.dataset)
        return self._labels

    @staticmethod
    def dataset_labels(dataset_cfg) -> List[int]:
        """Labels of the whole split a dataset config names."""
        from mmpretrain.registry import DATASETS

        from .. import datasets  # noqa: F401  (registers DigitsDataset)
        cfg = dict(dataset_cfg, pipeline=[])
        cfg.pop('indices', None)
        return [int(x) for x in DATASETS.build(cfg).get_gt_labels()]


def seed_of_group(group: str) -> int:
    """The seed of a run key's group: ``seed2`` of ``seed2/even`` is 2."""
    return int(group[len('seed'):])


def train_in_process(protocol: dict, repo: str, work_dir: str, key: str,
                     records: Dict[str, dict], selections: dict) -> dict:
    """Train run ``key`` in a worker process and return its record (for
    :meth:`AllocationStudy.run_parallel`); ``records`` are the finished
    ones it reads (:meth:`AllocationStudy.records_read_by`)."""
    import mmscalenet  # noqa: F401  (registers the models and hooks)
    study = AllocationStudy(
        StudyProtocol.from_dict(protocol), repo, work_dir, None)
    study.results['runs'].update(records)
    study.results.update(selections)
    return study.record_of(key)
