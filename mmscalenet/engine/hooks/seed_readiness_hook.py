# Copyright (c) mmscalenet contributors. All rights reserved.
"""Is the seed net ready to allocate? Its |gamma| ranking, epoch by epoch."""
import json
import os.path as osp
import statistics
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...allocation import (allocate_neurons, diagnose_model_allocation,
                           find_scalenet, sa_layout, seed_importance)
from ...allocation.diagnostics import NEAR_ZERO
from ...fileio import write_atomically
from ...registry import register_hook
from .run_checks import check_seed_run


def rank_correlation(a: List[float], b: List[float]) -> Optional[float]:
    """Spearman's rank correlation of two equally long value lists (ranks
    by sort order); None where either has no spread.

    Example:
        >>> round(rank_correlation([0.1, 0.5, 0.3], [1.0, 3.0, 2.0]), 6)
        1.0
    """
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(
        b, dtype=torch.float64)
    if len(a) < 2 or x.std() == 0 or y.std() == 0:
        return None
    rx = x.argsort().argsort().double()
    ry = y.argsort().argsort().double()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()))


@register_hook
class SeedReadinessHook(Hook):
    """Record, after every training epoch, how settled the seed's ranking is.

    The neuron allocation ranks a seed net's SA neurons by BN |gamma|; the
    ranking only means something once training has separated them. After
    every epoch this hook records, for the model's ScaleNet backbone:

    - per stage and scale: the mean, the spread (standard deviation) and
      the share near zero (below ``NEAR_ZERO`` of the net's largest) of the
      SA |gamma|s;
    - the rank correlation of each block's neuron ranking with the previous
      epoch's (Spearman, mean over blocks; near 1: the ranking has settled);
    - the allocation the seed would give now (``budget_ratio``, ``b``): how
      far it is from even and how many of its kept neurons are tied with
      the budget's cut or near zero, and the one-line warning of
      :meth:`AllocationDiagnostics.warning` while there is one.

    Each epoch is logged in one line, drawn as scalars (``readiness/*``) by
    the visualizer, and appended to ``<work_dir>/<file_name>`` (JSON,
    written atomically on rank 0; a resumed run keeps the epochs before its
    resume point). Add it to any seed config beside
    ``NeuronAllocationHook``; allocate when the rank correlation is close to
    1 and no warning is left.

    Args:
        budget_ratio (float): Budget of the would-be allocation. Defaults
            to 1.0.
        b (float): Cost exponent of its ranking. Defaults to 0.
        file_name (str): Record file in the work dir.
            Defaults to ``'seed_readiness.json'``.

    Example:
        >>> custom_hooks = [
        ...     dict(type='SeedReadinessHook'),
        ...     dict(type='NeuronAllocationHook', budget_ratio=1.0)]
    """

    priority = 'LOW'

    def __init__(self,
                 budget_ratio: float = 1.0,
                 b: float = 0.0,
                 file_name: str = 'seed_readiness.json'):
        if not budget_ratio > 0:
            raise ValueError(f'budget_ratio must be positive, got '
                             f'{budget_ratio}')
        if not file_name or osp.basename(file_name) != file_name:
            raise ValueError(f'file_name must be a plain file name, got '
                             f'{file_name!r}')
        self.budget_ratio = budget_ratio
        self.b = b
        self.file_name = file_name
        self.history: List[dict] = []
        self._previous: Optional[List[List[float]]] = None

    def before_train(self, runner) -> None:
        # Fails before the first epoch without a seed to measure or a
        # work_dir to write the record in. Runs after a resume has loaded
        # the weights: the ranking of the epoch the run starts from is the
        # first "previous" one.
        check_seed_run(runner, runner.work_dir, type(self).__name__)
        backbone = find_scalenet(runner.model)
        self._previous = self._flat_blocks(seed_importance(backbone))
        path = osp.join(runner.work_dir, self.file_name)
        self.history = []
        if runner.epoch > 0 and osp.isfile(path):
            with open(path) as f:
                self.history = [
                    r for r in json.load(f) if r['epoch'] <= runner.epoch
                ]

    @staticmethod
    def _flat_blocks(importance) -> List[List[float]]:
        return [[v for scale in block for v in scale] for block in importance]

    def after_train_epoch(self, runner) -> None:
        record = self.measure(runner.model, runner.epoch + 1)
        self.history.append(record)
        runner.visualizer.add_scalars(
            {
                f'readiness/{k}': record[k]
                for k in ('rank_correlation', 'moved_from_even',
                          'tied_share', 'near_zero_share')
                if record[k] is not None
            },
            step=record['epoch'])
        corr = record['rank_correlation']
        runner.logger.info(
            f'seed readiness, epoch {record["epoch"]}: ranking rank '
            f'correlation with the previous epoch '
            + ('-' if corr is None else f'{corr:.3f}')
            + f'; |gamma| spread {record["gamma_spread"]:.4f}; '
            + record['summary']
            + (f'; {record["warning"]}' if record['warning'] else ''))
        if is_main_process():
            write_atomically(osp.join(runner.work_dir, self.file_name),
                             json.dumps(self.history, indent=1))

    def measure(self, model, epoch: int) -> dict:
        """The record of one epoch (see the class docstring)."""
        backbone = find_scalenet(model)
        importance = seed_importance(backbone)
        flat = self._flat_blocks(importance)
        correlations = [
            rank_correlation(now, before)
            for now, before in zip(flat, self._previous or [])
        ]
        correlations = [c for c in correlations if c is not None]
        self._previous = flat
        result = allocate_neurons(
            importance, budget_ratio=self.budget_ratio, b=self.b,
            **sa_layout(backbone))
        diagnostics = diagnose_model_allocation(model, result)
        largest = max(v for block in flat for v in block)
        stages = []
        first = 0
        for stage, name in enumerate(backbone.res_layers):
            n = len(getattr(backbone, name))
            blocks = importance[first:first + n]
            first += n
            for scale in range(len(blocks[0])):
                values = [v for block in blocks for v in block[scale]]
                if not values:
                    continue
                stages.append(
                    dict(
                        stage=stage + 1,
                        scale=scale + 1,
                        mean=statistics.fmean(values),
                        std=statistics.pstdev(values),
                        near_zero_share=sum(v < NEAR_ZERO * largest
                                            for v in values) / len(values)))
        return dict(
            epoch=epoch,
            rank_correlation=(statistics.fmean(correlations)
                              if correlations else None),
            gamma_spread=statistics.fmean(
                statistics.pstdev(block) / (statistics.fmean(block) or 1)
                for block in flat),
            moved_from_even=diagnostics.moved_from_even,
            tied_share=diagnostics.tied_share,
            near_zero_share=diagnostics.near_zero_share,
            summary=diagnostics.summary(),
            warning=diagnostics.warning(),
            allocation=result.spec.rows(),
            stages=stages)
