# Copyright (c) mmscalenet contributors. All rights reserved.
"""The allocation study's scheduling: which runs, in which order, each
after the runs it needs, one after the other or in worker processes.

Every run is a fresh mmengine ``Runner`` on its config
(:mod:`.run_configs`); its record (:mod:`.records`) is added to the results
file (:mod:`.results_file`) as soon as it finishes, so an interrupted study
resumes at the first run without a record. A run that was interrupted
itself resumes from its last epoch checkpoint in its work dir.
"""
import os
import os.path as osp
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config

from .matching import even_at_macs
from .protocol import MATCHED_TO, MODEL_OF_KIND, SEED_OF, StudyProtocol
from .records import even_nets_of, train
from .results_file import (StudyLockedError, adopt_protocol, exclusive,
                           read_results, write_results)
from .run_configs import RunConfigs
from .run_key import RunKey
from .selection import (ranked_selection_keys, select_lambda,
                        selection_keys, update_selections)

#: Kinds trained with the first round's L1 strength, and with the second's.
FIRST_L1_KINDS = ('seed-l1', 'allocated-l1')
RANKED_L1_KINDS = ('seed-l1-ranked', 'allocated-l1-ranked')

__all__ = [
    'AllocationStudy', 'StudyLockedError', 'exclusive', 'read_results',
    'select_lambda', 'train_in_process'
]


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
        adopt_protocol(self.results, protocol.to_dict(), results_path)
        self.configs = RunConfigs(protocol, repo, self.work_dir)
        #: Side of the input every model of the study is measured at: the
        #: reference size of the seed ScaleNet (32 for CIFAR nets).
        seed_cfg = Config.fromfile(osp.join(repo, protocol.models['seed']))
        self.input_side = seed_cfg.model.backbone.get('reference_size', 32)

    # ------------------------------------------------------------ the plan
    def planned_keys(self) -> List[str]:
        """Every run of the study, in training order (selection runs are
        trained when the first penalised seed needs them)."""
        seeds = self.protocol.seeds
        keys = [str(RunKey.of(s, kind)) for s in seeds
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
            keys += [str(RunKey.of(s, kind)) for s in seeds for kind in phase
                     if MODEL_OF_KIND[kind] in self.protocol.models]
        return keys

    def run(self, workers: int = 1) -> dict:
        """Train every run that has no record yet; return the results.

        Args:
            workers (int): Runs trained at once, each in its own process
                (spawned), as soon as the runs it needs are done, on the
                cores shared out (:func:`worker_threads`). 1 trains them
                one after the other in this process. Defaults to 1.
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
        run = RunKey.parse(key)
        if run.is_selection:
            return []
        if run.kind in SEED_OF:
            return [run.sibling(SEED_OF[run.kind])]
        if run.kind in MATCHED_TO:
            return [run.sibling(MATCHED_TO[run.kind])]
        if run.kind == 'seed-l1':
            return selection_keys(self.protocol)
        if run.kind == 'seed-l1-ranked':
            return ranked_selection_keys(self.protocol)
        return []

    def add_record(self, record: dict) -> None:
        self.results['runs'][record['key']] = record
        update_selections(self.results, self.protocol)
        if self.results_path is not None:
            write_results(self.results_path, self.results)

    def record_of(self, key: str) -> dict:
        """Train run ``key`` (the runs it needs have records) and return
        its record."""
        runs = self.results['runs']
        run = RunKey.parse(key)
        if run.group == 'select':
            return self.train(key, 'seed-l1', self.protocol.seeds[0],
                              lambda_l1=run.lambda_l1, selection=True)
        if run.group == 'select-ranked':
            return self.train(key, 'seed-l1-ranked', self.protocol.seeds[0],
                              lambda_l1=run.lambda_l1, selection=True,
                              allocate=True)
        kind, seed = run.kind, run.seed
        structure = lambda_l1 = None
        extra = {}
        if kind in SEED_OF:
            structure = runs[run.sibling(SEED_OF[kind])]['allocation']
        if kind in FIRST_L1_KINDS:
            lambda_l1 = self.results['selection']['chosen']
        if kind in RANKED_L1_KINDS:
            lambda_l1 = self.results['selection_ranked']['chosen']
        if kind in MATCHED_TO:
            source = run.sibling(MATCHED_TO[kind])
            matched = self.match_even(runs[source])
            extra = dict(
                matched_to=source,
                target_macs=matched.target,
                even_budget_ratio=matched.budget_ratio)
            same = next((r for r in even_nets_of(self.results, seed).values()
                         if r['spec'].get('rows') == matched.rows), None)
            if same is not None:
                self.log(f'{key}: the even net at {matched.macs} MACs is '
                         f'{same["key"]}\'s; its record is reused')
                return dict(same, key=key, kind=kind, same_run_as=same.get(
                    'same_run_as', same['key']), **extra)
            structure = matched.rows
        return dict(self.train(key, kind, seed, structure, lambda_l1),
                    **extra)

    def train(self,
              key: str,
              kind: str,
              seed: int,
              structure: Optional[list] = None,
              lambda_l1: Optional[float] = None,
              selection: bool = False,
              allocate: bool = False) -> dict:
        """Train and evaluate one run (:func:`.records.train` on its
        config); return its record. With ``allocate`` a selection run keeps
        its allocation hook (the second round's selection ranks by it)."""
        cfg = self.configs.run_config(key, kind, seed, structure, lambda_l1,
                                      selection, allocate)
        return train(cfg, key, kind, seed, lambda_l1, selection,
                     self.input_side, self.log)

    def records_read_by(self, key: str) -> Dict[str, dict]:
        """The finished records :meth:`record_of` reads for run ``key``:
        those of the runs it needs and, for an even net at matched MACs,
        the seed's even nets it may reuse."""
        runs = self.results['runs']
        records = {d: runs[d] for d in self.dependencies(key)}
        run = RunKey.parse(key)
        if run.kind in MATCHED_TO:
            records.update(even_nets_of(self.results, run.seed))
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
        threads = worker_threads(workers)
        self.log(f'{workers} workers, ' + (
            f'{threads} thread(s) each' if threads else
            f'threads as OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]} '
            'says'))
        with cf.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context('spawn'),
                initializer=torch.set_num_threads if threads else None,
                initargs=(threads, ) if threads else ()) as pool:
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


def worker_threads(workers: int) -> Optional[int]:
    """Torch threads for each of ``workers`` runs at once: the cores shared
    out, at least one; ``None`` where ``OMP_NUM_THREADS`` is set (it
    decides): runs of all the cores each would oversubscribe them
    (docs/study.md).
    """
    if os.environ.get('OMP_NUM_THREADS'):
        return None
    return max(1, (os.cpu_count() or 1) // workers)


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
