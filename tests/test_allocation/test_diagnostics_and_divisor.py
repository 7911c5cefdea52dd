# Copyright (c) mmscalenet contributors. All rights reserved.
"""The allocation's diagnostics and its hardware-aware channel divisor, on
the committed study's seed nets (real gammas) and on hand-built rankings."""
import pytest
from helpers import study_results

from mmscalenet.allocation import (AllocationError, allocate_block,
                                   allocate_neurons, diagnose_allocation,
                                   even_allocation)

#: The study's CIFAR ScaleNet-38: 4 blocks per stage, widths 16/32/64 at
#: sides 32/16/8, pooling 1/2/4.
LAYOUT = dict(
    widths=[16] * 4 + [32] * 4 + [64] * 4,
    sides=[32] * 4 + [16] * 4 + [8] * 4,
    pool_factors=(1, 2, 4))


def study_seed_nets(kind):
    runs = study_results()['runs']
    return [r for k, r in sorted(runs.items())
            if r['kind'] == kind and not r.get('evaluated_on')]


def test_divisor_1_reproduces_the_committed_allocations():
    """Every plain seed net of the first round, reallocated from its
    recorded gammas with channel_divisor=1: the same kept neurons, bit for
    bit. (The L1 seeds' records round their gammas to 6 decimals, which
    turns most of them into ties at 0: they are checked against the
    reference below instead.)"""
    for record in study_seed_nets('seed'):
        result = allocate_neurons(record['gammas'], channel_divisor=1,
                                  **LAYOUT)
        assert [blk.kept for blk in result.blocks] == record['kept']
        assert result.spec.rows() == record['allocation']
        assert 'channel_divisor' not in result.spec.meta


def neuron_by_neuron(importance, costs, budget, b=0.0):
    """The paper's greedy pass, written out plainly: the reference."""
    ranked = sorted(((v / costs[s]**b, s, c)
                     for s, values in enumerate(importance)
                     for c, v in enumerate(values)),
                    key=lambda t: (-t[0], t[1], t[2]))
    kept, used = [[] for _ in importance], 0
    for _, s, c in ranked:
        if used + costs[s] <= budget:
            kept[s].append(c)
            used += costs[s]
    return [sorted(k) for k in kept], used


@pytest.mark.parametrize('b', [0.0, 0.5])
def test_divisor_1_is_the_neuron_by_neuron_pass(b):
    """On the L1 seeds' gammas (many ties at 0) and on random ones."""
    import random
    rng = random.Random(0)
    blocks = [blk for r in study_seed_nets('seed-l1') for blk in r['gammas']]
    blocks += [[[rng.choice([0.0, 0.5, rng.random()]) for _ in range(16)]
                for _ in range(3)] for _ in range(20)]
    for importance in blocks:
        costs = [rng.choice([9, 36, 144]) for _ in importance]
        budget = rng.randint(200, 1500)
        result = allocate_block(importance, costs, budget, b=b,
                                channel_divisor=1)
        assert (result.kept, result.macs) == neuron_by_neuron(
            importance, costs, budget, b)


def test_divisor_keeps_multiples_within_the_same_budget():
    record = study_seed_nets('seed')[0]
    plain = allocate_neurons(record['gammas'], **LAYOUT)
    aligned = allocate_neurons(record['gammas'], channel_divisor=8, **LAYOUT)
    assert aligned.spec.meta['channel_divisor'] == 8
    for blk, base in zip(aligned.blocks, plain.blocks):
        assert all(c % 8 == 0 for c in blk.channels), blk.channels
        assert blk.macs <= blk.budget == base.budget
        assert sum(blk.channels) > 0
    # The groups are each scale's best neurons.
    for blk, gammas in zip(aligned.blocks, record['gammas']):
        for kept, values in zip(blk.kept, gammas):
            dropped = [v for i, v in enumerate(values) if i not in kept]
            if kept and dropped:
                assert min(values[i] for i in kept) >= max(dropped)


def test_a_group_ranks_by_its_weakest_member():
    # Scale 0 (cost 1): best pair 0.9/0.1 -> 0.1; scale 1 (cost 1): pair
    # 0.5/0.4 -> 0.4. Budget 2 keeps the scale-1 pair.
    result = allocate_block([[0.9, 0.1], [0.5, 0.4]], [1, 1], 2,
                            channel_divisor=2)
    assert result.kept == [[], [0, 1]]
    with pytest.raises(AllocationError, match='group of 2 neurons'):
        allocate_block([[0.9, 0.1]], [3], 5, channel_divisor=2)
    with pytest.raises(AllocationError, match='channel_divisor must be'):
        allocate_block([[0.9, 0.1]], [3], 5, channel_divisor=0)


def diagnostics_of(record):
    even = even_allocation(**LAYOUT)
    return diagnose_allocation(record['gammas'], record['kept'],
                               record['allocation'], even.rows())


def test_tied_plain_seeds_are_flagged():
    for record in study_seed_nets('seed'):
        d = diagnostics_of(record)
        assert 0.05 < d.moved_from_even < 0.07
        assert d.near_zero == 0 and d.tied_share > 0.5
        warning = d.warning()
        assert warning and 'train the seed longer' in warning
        assert 'L1 penalty' not in warning


def test_zero_filled_l1_seeds_are_flagged():
    for record in study_seed_nets('seed-l1'):
        d = diagnostics_of(record)
        assert d.near_zero_share > 0.8
        warning = d.warning()
        assert warning and 'lower the L1 penalty' in warning


def test_a_settled_ranking_gives_no_warning():
    # Two scales, well separated |gamma|s: the cut falls between 0.9 and 0.3.
    importance = [[[0.9, 0.8, 0.3], [0.85, 0.2, 0.1]]]
    result = allocate_block(importance[0], [1, 1], 3)
    d = diagnose_allocation(importance, [result.kept], [[2, 1, 8]],
                            [[1, 1, 8]])
    assert (d.kept, d.tied, d.near_zero) == (3, 0, 0)
    assert d.warning() is None
    assert '0 (0%) have a |gamma| within 5%' in d.summary()
