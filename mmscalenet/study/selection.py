# Copyright (c) mmscalenet contributors. All rights reserved.
"""Choosing the L1 strength of the penalised seeds from the selection runs.

The first round picks the largest strength whose held-out top-1 stays
within a tolerance of the unpenalised seed's (:func:`select_lambda`); the
second picks the largest whose allocation keeps few neurons near zero.
Both are written into the results as soon as their runs are done
(:func:`update_selections`).
"""
from typing import Dict, List

from .protocol import StudyProtocol


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


def selection_keys(protocol: StudyProtocol) -> List[str]:
    """The first round's selection runs (one per strength, 0 first)."""
    sparsity = protocol.sparsity
    if sparsity is None:
        return []
    return [f'select/lambda={lam:g}' for lam in [0.0] + sparsity.lambdas]


def ranked_selection_keys(protocol: StudyProtocol) -> List[str]:
    """The second round's selection runs: seeds on the selection split
    whose allocations choose the ranked L1 strength."""
    if protocol.second_round is None:
        return []
    return [f'select-ranked/lambda={lam:g}'
            for lam in protocol.second_round.lambdas]


def update_selections(results: dict, protocol: StudyProtocol) -> None:
    """Write each round's chosen strength into ``results`` once all its
    selection runs have records."""
    _update_ranked_selection(results, protocol)
    sparsity = protocol.sparsity
    runs = results['runs']
    keys = selection_keys(protocol)
    if sparsity is None or not all(k in runs for k in keys):
        return
    holdout = {runs[k]['lambda_l1']: runs[k]['top1'] for k in keys}
    trained_per_class = (protocol.train_per_class -
                         sparsity.holdout_per_class)
    results['selection'] = dict(
        rule=f'largest lambda_l1 whose held-out top-1 is within '
        f'{sparsity.tolerance} points of the unpenalised seed\'s '
        f'(trained on {trained_per_class}'
        f' images per class, evaluated on the other '
        f'{sparsity.holdout_per_class} per class of the training '
        f'subset); the smallest where none is',
        holdout_top1={f'{lam:g}': top1 for lam, top1 in holdout.items()},
        chosen=select_lambda(holdout, sparsity.tolerance))


def _update_ranked_selection(results: dict,
                             protocol: StudyProtocol) -> None:
    """The second round's L1 strength, once its selection runs are done:
    the largest whose allocation keeps at most ``max_near_zero_share`` of
    its neurons near zero."""
    keys = ranked_selection_keys(protocol)
    runs = results['runs']
    if not keys or not all(k in runs for k in keys):
        return
    limit = protocol.second_round.max_near_zero_share
    share = {runs[k]['lambda_l1']: runs[k]['near_zero_share'] for k in keys}
    within = [lam for lam in share if share[lam] <= limit]
    results['selection_ranked'] = dict(
        rule=f'largest lambda_l1 whose allocation (seed net trained on '
        f'the selection split) keeps at most {limit:.0%} of its neurons '
        f'at |gamma| near 0; the smallest where none does',
        near_zero_share={f'{lam:g}': v for lam, v in share.items()},
        holdout_top1={f'{runs[k]["lambda_l1"]:g}': runs[k]['top1']
                      for k in keys},
        chosen=max(within) if within else min(share))
