# Copyright (c) mmscalenet contributors. All rights reserved.
"""Hand a trained seed ScaleNet over to retraining with learned channels."""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...allocation import allocate_from_model, diagnose_model_allocation
from ...allocation.writer import write_allocation
from ...registry import register_hook
from .run_checks import check_seed_run, on_rank_0


@register_hook
class NeuronAllocationHook(Hook):
    """Run the data-driven neuron allocation on the trained seed net.

    At the end of training (or after ``at_epoch`` epochs), ranks every SA
    output neuron of the model's ScaleNet backbone by its BN |gamma| and
    keeps, per block, the best neurons within ``budget_ratio`` times the
    MACs of the ResNet 3x3 conv the block replaces. Rank 0 computes and
    broadcasts the result, so every rank agrees; rank 0 writes into
    ``out_dir`` (default: the work dir), atomically and never over an
    existing file:

    - ``allocated_spec.json``: the channel spec (the authors' row format)
      with a metadata block (source, budget ratio, b, per-block MACs and
      budgets);
    - ``retrain_allocated_spec.py``: the seed config with that spec in place
      of the seed spec and without this hook: train it from scratch with
      ``tools/train.py``;
    - ``allocated_spec.png``: the neuron proportion per scale and block.

    It then logs the allocation's diagnostics (distance from even, kept
    neurons tied with the budget's cut or with |gamma| near 0; kept as
    ``self.diagnostics``) and warns in one line when the |gamma| ranking
    cannot have decided the allocation, naming the remedy (train the seed
    longer, or lower the L1 penalty).

    Args:
        budget_ratio (float): Budget as a fraction of the replaced 3x3
            conv's MACs (1.0: iso-FLOPs, as the paper; 0.7: a light net).
            Defaults to 1.0.
        b (float): Cost exponent of the ranking ``|gamma| / MACs**b``.
            Defaults to 0 (the paper).
        at_epoch (int, optional): Allocate after this many epochs instead of
            at the end of training. Defaults to None.
        out_dir (str, optional): Where to write. Defaults to the work dir.
        spec_name (str): File name of the spec.
            Defaults to ``'allocated_spec.json'``.
        plot (bool): Write the plot. Defaults to True.
        channel_divisor (int): Keep every scale's channel count a multiple
            of this, within the same budget (8 suits GPU tensor cores; 1 is
            the paper's allocation). Defaults to 1.

    Example:
        >>> custom_hooks = [
        ...     dict(type='NeuronAllocationHook', budget_ratio=1.0)]
    """

    priority = 'LOW'

    def __init__(self,
                 budget_ratio: float = 1.0,
                 b: float = 0.0,
                 at_epoch: Optional[int] = None,
                 out_dir: Optional[str] = None,
                 spec_name: str = 'allocated_spec.json',
                 plot: bool = True,
                 channel_divisor: int = 1):
        if not budget_ratio > 0:
            raise ValueError(f'budget_ratio must be positive, got '
                             f'{budget_ratio}')
        if isinstance(channel_divisor, bool) or not isinstance(
                channel_divisor, int) or channel_divisor < 1:
            raise ValueError(f'channel_divisor must be a positive integer, '
                             f'got {channel_divisor!r}')
        if at_epoch is not None and at_epoch < 1:
            raise ValueError(f'at_epoch must be at least 1, got {at_epoch}')
        self.budget_ratio = budget_ratio
        self.b = b
        self.at_epoch = at_epoch
        self.out_dir = out_dir
        self.spec_name = spec_name
        self.plot = plot
        self.channel_divisor = channel_divisor
        self.paths = None

    def before_train(self, runner) -> None:
        """Check, before the first epoch, all the allocation will need at
        the end: a ScaleNet seed in the model and an output folder it can
        write; one :class:`ConfigError` on every rank otherwise. (A config
        that names no ScaleNet, a model built in code, gets the spec
        without a retraining config, as before.)"""
        check_seed_run(runner, self.out_dir or runner.work_dir,
                       type(self).__name__)

    def after_train_epoch(self, runner) -> None:
        if self.at_epoch is not None and runner.epoch + 1 == self.at_epoch:
            self.allocate(runner)

    def after_train(self, runner) -> None:
        if self.paths is None:
            self.allocate(runner)

    def allocate(self, runner) -> None:
        """Compute and write on rank 0, then agree on every rank.

        Whatever goes wrong on rank 0 (the allocation itself, an error of
        any type, or writing the files) is broadcast, and every rank raises
        the same ``RuntimeError``; no rank is left waiting for the others.
        """

        def compute_and_write():
            result = allocate_from_model(
                runner.model,
                budget_ratio=self.budget_ratio,
                b=self.b,
                channel_divisor=self.channel_divisor,
                meta=dict(
                    source=f'{osp.abspath(runner.work_dir)} at epoch '
                    f'{runner.epoch}, iteration {runner.iter}',
                    seed_config=getattr(runner.cfg, 'filename', None)))
            paths = write_allocation(
                result.spec,
                self.out_dir or runner.work_dir,
                seed_cfg=runner.cfg,
                spec_name=self.spec_name,
                plot=self.plot,
                title=f'budget ratio {self.budget_ratio}, b = {self.b}')
            return result, diagnose_model_allocation(runner.model,
                                                     result), paths

        result, diagnostics, paths = on_rank_0(compute_and_write,
                                               'neuron allocation')
        self.result, self.diagnostics = result, diagnostics
        if is_main_process():
            self.paths = paths
            runner.logger.info('neuron allocation:\n' + self.result.report())
            runner.logger.info('neuron allocation: '
                               + self.diagnostics.summary())
            warning = self.diagnostics.warning()
            if warning:
                runner.logger.warning(f'neuron allocation: {warning}')
            runner.logger.info('wrote ' + ', '.join(
                f'{k}: {v}' for k, v in paths.items()))
        else:
            self.paths = {}
