# Copyright (c) mmscalenet contributors. All rights reserved.
"""Algorithm 1 on hand-built importances with known answers."""
import math

import pytest
import torch
import torch.nn as nn

from mmscalenet.allocation import (AllocationError, allocate_block,
                                   allocate_from_model, allocate_neurons,
                                   even_allocation, find_scalenet)
from mmscalenet.models import ChannelSpec, CifarScaleNet, ScaleNet
from mmscalenet.models.sa_geometry import conv3x3_macs, neuron_macs


def test_keeps_the_most_important_within_the_budget():
    # scale 0 neurons cost 10, scale 1 neurons cost 4; budget 30.
    result = allocate_block([[0.9, 0.1, 0.5], [0.8, 0.7, 0.2]], [10, 4], 30)
    # Ranking 0.9(s0) 0.8(s1) 0.7(s1) 0.5(s0) 0.2(s1) 0.1(s0):
    # 10 + 4 + 4 = 18, +10 = 28, 0.2 (4) -> 32 > 30 skip, 0.1 (10) skip.
    assert result.kept == [[0, 2], [0, 1]]
    assert result.channels == [2, 2]
    assert result.macs == 28 <= result.budget == 30


def test_budget_is_filled_by_cheaper_neurons_further_down():
    # After an expensive neuron no longer fits, cheaper ones still do.
    result = allocate_block([[0.9, 0.8], [0.1, 0.05, 0.01]], [10, 1], 12)
    assert result.kept == [[0], [0, 1]]
    assert result.macs == 12


def test_b_above_zero_prefers_cheap_scales():
    importance, costs = [[1.0], [0.6]], [10, 2]
    assert allocate_block(importance, costs, 10, b=0).kept == [[0], []]
    # 1.0 / 10 = 0.1 < 0.6 / 2 = 0.3: the cheap neuron first, then 12 > 10.
    assert allocate_block(importance, costs, 10, b=1).kept == [[], [0]]


def test_ties_break_by_scale_then_channel():
    result = allocate_block([[0.5, 0.5], [0.5, 0.5]], [1, 1], 3)
    assert result.kept == [[0, 1], [0]]
    again = allocate_block([[0.5, 0.5], [0.5, 0.5]], [1, 1], 3)
    assert again.kept == result.kept


def test_one_neuron_floor_and_impossible_budget():
    result = allocate_block([[0.1, 0.2], [0.3]], [5, 3], 3)
    assert result.kept == [[], [0]] and result.macs == 3
    # The most important neuron may not fit; the block still keeps one.
    result = allocate_block([[0.9], [0.1]], [5, 3], 4)
    assert result.kept == [[], [0]]
    with pytest.raises(AllocationError,
                       match='block 7: budget 2 MACs is below its cheapest '
                       r'neuron \(3 MACs\)'):
        allocate_block([[0.1], [0.3]], [5, 3], 2, block=7)


@pytest.mark.parametrize('bad, message', [
    (float('nan'), 'block 0, scale 1, channel 0: importance is nan'),
    (float('inf'), 'importance is inf'),
])
def test_nan_importance_is_refused(bad, message):
    with pytest.raises(AllocationError, match=message):
        allocate_block([[0.5], [bad]], [1, 1], 10)


def test_all_zero_importance_is_refused():
    with pytest.raises(AllocationError, match='block 3: all 3 importances'):
        allocate_block([[0.0, 0.0], [0.0]], [1, 1], 10, block=3)


def test_network_allocation_budgets_and_meta():
    widths, sides, factors = [16, 32], [32, 16], (1, 2, 4)
    importance = [[[1.0] * 16, [0.5] * 16, [0.1] * 16],
                  [[0.1] * 32, [0.5] * 32, [1.0] * 32]]
    result = allocate_neurons(importance, widths, sides, factors,
                              budget_ratio=0.5)
    for block, width, side in zip(result.blocks, widths, sides):
        assert block.macs <= 0.5 * conv3x3_macs(width, width, side)
        assert block.budget == 0.5 * conv3x3_macs(width, width, side)
    # Block 0 prefers scale 0: all 16 cost 9*16*32*32 = 147456 each; half
    # the budget is 16*147456/2 = 8 of them, then scale 1 neurons (36864)
    # do not fit anymore.
    assert result.spec.rows()[0] == [8, 0, 0, 32]
    assert result.meta['budget_ratio'] == 0.5
    assert result.spec.meta['block_macs'] == [b.macs for b in result.blocks]
    assert 'block' in result.report()


def test_even_allocation_matches_the_channel_spec_rule():
    spec = even_allocation([64, 128], [56, 28], (1, 2, 4, 7))
    assert spec == ChannelSpec.even((1, 1), (64, 128), (56, 28),
                                    (1, 2, 4, 7))


def randomize_gammas(model, generator):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(
                torch.rand(m.num_features, generator=generator))


def sa_conv_macs(model, size):
    """MACs of every SA block's convs, measured on a forward pass."""
    per_block = {}

    def make_hook(k):

        def hook(m, inputs, out):
            kk = m.kernel_size[0] * m.kernel_size[1]
            per_block[k] = per_block.get(k, 0) + out[0].numel() * kk * \
                m.in_channels
        return hook

    handles = []
    blocks = [m for m in model.modules() if hasattr(m, 'conv2') and
              hasattr(m.conv2, 'convs')]
    for k, block in enumerate(blocks):
        for conv in block.conv2.convs.values():
            handles.append(conv.register_forward_hook(make_hook(k)))
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, size, size))
    for h in handles:
        h.remove()
    return [per_block[k] for k in range(len(blocks))]


@pytest.mark.parametrize('budget_ratio', [1.0, 0.7])
def test_allocated_imagenet_net_costs_what_the_allocation_says(budget_ratio):
    seed = ScaleNet(50, 'seed')
    randomize_gammas(seed, torch.Generator().manual_seed(0))
    result = allocate_from_model(seed, budget_ratio=budget_ratio)
    allocated = ScaleNet(50, result.spec)
    measured = sa_conv_macs(allocated, 224)
    assert measured == [b.macs for b in result.blocks]
    for block, macs in zip(result.blocks, measured):
        assert macs <= block.budget
        assert macs > 0.97 * block.budget  # the budget is used up
    assert len(result.spec) == 16 and result.spec.num_scales == 4


def test_kept_channels_follow_the_gammas():
    seed = CifarScaleNet(38, structure='seed')
    for m in seed.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(0.01)
    # Make scale 2 (factor 4) of the first block clearly the most important.
    seed.layer1[0].conv2.norms['2'].weight.data.fill_(1.0)
    result = allocate_from_model(seed)
    first = result.blocks[0]
    assert first.channels[2] == 16  # all of scale 2 kept
    assert first.kept[2] == list(range(16))
    cost = [neuron_macs(16, 32, i, f) for i, f in enumerate((1, 2, 4))]
    assert sum(c * n for c, n in zip(cost, first.channels)) == first.macs


def test_model_without_scalenet_is_named():
    with pytest.raises(AllocationError, match='no ScaleNet backbone in the '
                       r'model \(Sequential\)'):
        find_scalenet(nn.Sequential(nn.Conv2d(3, 8, 3)))


def test_impossible_budget_for_a_network():
    seed = CifarScaleNet(38, structure='seed')
    with pytest.raises(AllocationError, match='block 0: budget'):
        allocate_from_model(seed, budget_ratio=1e-6)
    with pytest.raises(AllocationError, match='budget_ratio must be positive'):
        allocate_from_model(seed, budget_ratio=0)
    assert math.isfinite(allocate_from_model(seed).blocks[0].macs)
