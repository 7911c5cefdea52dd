# Copyright (c) mmscalenet contributors. All rights reserved.
"""A run's record: train and test one run's config with a Runner and keep
what the study reports (top-1, MACs, parameters, minutes, the structure,
the machine and, for a seed net, its gammas, allocation and diagnostics);
and which records are a seed's even nets."""
import datetime
import time
from typing import Callable, Dict, Optional

from mmengine.config import Config
from mmengine.runner import Runner

from ..allocation.seed_net import find_scalenet, seed_importance
from ..analysis import config_model_complexity
from ..engine import NeuronAllocationHook, SeedReadinessHook
from .protocol import ALL_KINDS, MODEL_OF_KIND
from .results_file import machine_info

#: The kinds of run whose net is an even ScaleNet.
EVEN_KINDS = tuple(k for k, model in MODEL_OF_KIND.items() if model == 'even')


def even_nets_of(results: dict, seed: int) -> Dict[str, dict]:
    """The finished even nets of ``seed`` (first round and matched, the
    selection runs left out), by key: the one definition the pipeline
    (an even-matched run reuses the record of a net it already has) and
    the report (the even nets' spread) share."""
    return {
        k: r
        for k, r in results['runs'].items()
        if r.get('seed') == seed and r['kind'] in EVEN_KINDS
        and not r.get('evaluated_on')
    }


def train(cfg: Config, key: str, kind: str, seed: int,
          lambda_l1: Optional[float], selection: bool, input_side: int,
          log: Callable[[str], None] = print) -> dict:
    """Train and evaluate run ``key`` on its config ``cfg``
    (:class:`~.run_configs.RunConfigs`); return its record.

    A selection run (``selection``) is evaluated on its held-out
    training images; its record says so. Models are measured at
    ``input_side`` (MACs).
    """
    log(f'\n==== {key}: {ALL_KINDS[kind]}, seed {seed}' +
        (f', lambda_l1 {lambda_l1:g}' if lambda_l1 else '') +
        f' ({cfg.work_dir}) ====')
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    minutes = (time.time() - start) / 60
    model = runner.model.eval()
    complexity = config_model_complexity(
        model, 'mmpretrain', (input_side, input_side))
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
        spec=spec_of(model),
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
    log(f'{key}: top-1 {record["top1"]:.2f}%, '
        f'{record["macs"] / 1e6:.2f} M MACs, '
        f'{record["minutes"]:.1f} min')
    return record


def spec_of(model) -> dict:
    """What a record keeps of a model's structure: a ScaleNet's rows, a
    ResNet's stage widths."""
    backbone = model.backbone
    if hasattr(backbone, 'spec'):
        return dict(type=type(backbone).__name__,
                    rows=backbone.spec.rows())
    widths = [getattr(backbone, name)[0].planes
              for name in backbone.res_layers]
    return dict(type=type(backbone).__name__, widths=widths)
