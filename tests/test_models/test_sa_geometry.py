# Copyright (c) mmscalenet contributors. All rights reserved.
import pytest

from mmscalenet.models import sa_geometry as geo


def test_kernel_rule_is_the_authors():
    # side / 2**i > 1: only the factor-7 scale of the 7x7 stage is 1x1.
    assert [geo.kernel_size(7, i) for i in range(4)] == [3, 3, 3, 1]
    assert [geo.kernel_size(14, i) for i in range(4)] == [3, 3, 3, 3]
    # 2**i, not the factor: side 8 with i = 3 gives 8 / 8 = 1 -> 1x1.
    assert geo.kernel_size(8, 3) == 1


@pytest.mark.parametrize('size, factor, pooled',
                         [(56, 7, 8), (14, 4, 3), (7, 2, 3), (7, 7, 1),
                          (3, 7, 1), (1, 2, 1), (13, 1, 13)])
def test_pooled_size_floor_and_whole_map(size, factor, pooled):
    assert geo.downsampled_size(size, factor) == pooled


def test_strided_conv_sizes_are_ceil():
    assert geo.downsampled_size(7, 2, 'conv') == 4
    assert geo.downsampled_size(7, 2, 'dilated_conv') == 4
    assert geo.downsampled_size(8, 2, 'conv') == 4
    with pytest.raises(ValueError, match="'bogus'"):
        geo.downsampled_size(8, 2, 'bogus')


def test_neuron_macs_and_budget():
    # 3x3 kernel, 64 inputs, 56 / 7 = 8 -> 8x8 map.
    assert geo.neuron_macs(64, 56, 3, 7) == 9 * 64 * 64
    # 1x1 kernel at the last stage's factor-7 scale.
    assert geo.neuron_macs(512, 7, 3, 7) == 512
    assert geo.conv3x3_macs(64, 64, 56) == 9 * 64 * 64 * 56 * 56


def test_upsample_rule():
    assert geo.upsample_is_nearest((56, 56), (8, 8))
    assert not geo.upsample_is_nearest((14, 14), (3, 3))
    assert not geo.upsample_is_nearest((14, 15), (7, 7))
