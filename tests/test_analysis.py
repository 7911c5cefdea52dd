# Copyright (c) mmscalenet contributors. All rights reserved.
"""Receptive fields (paper Figure 6) against hand-computed values."""
import pytest
from helpers import run_python

from mmscalenet.analysis import receptive_field_ranges
from mmscalenet.models import CifarResNet, CifarScaleNet, ScaleNet


def test_cifar_scalenet_by_hand():
    # Stem 3x3: 3. Block 1, scales (1, 2, 4), 3x3 convs, jump 1:
    #   factor 1: +2; factor 4: pool +3, conv +2*4 = +11.
    ranges = receptive_field_ranges(CifarScaleNet(38))
    assert ranges[:3] == [(5, 14), (7, 25), (9, 36)]
    # Block 5 starts stage 2: 2x2 max pool (+1, jump 2), then
    # factor 1: +2*2, factor 4: +3*2 + 2*8 = +22.
    lo, hi = ranges[3]
    assert ranges[4] == (lo + 1 + 4, hi + 1 + 22)


def test_cifar_resnet_by_hand():
    ranges = receptive_field_ranges(CifarResNet(38))
    # +2 per block at jump 1; the stride-2 3x3 conv of block 5 adds 2 at
    # jump 1, then +4 per block at jump 2.
    assert ranges[:6] == [(5, 5), (7, 7), (9, 9), (11, 11), (13, 13),
                          (17, 17)]


def test_scale_with_zero_channels_does_not_count():
    rows = [[8, 0, 0, 0, 32]] * 4 + [[0, 0, 4, 0, 16]] * 4 + \
        [[4, 4, 0, 0, 8]] * 4
    ranges = receptive_field_ranges(
        CifarScaleNet(38, structure=rows, pool_factors=(1, 2, 4, 8)))
    assert ranges[0] == (5, 5)  # only the full-resolution scale
    assert ranges[3] == (11, 11)


def test_resnet50_known_value_and_scalenet_range():
    from mmpretrain.models import ResNet
    assert receptive_field_ranges(ResNet(50))[-1] == (427, 427)
    lo, hi = receptive_field_ranges(ScaleNet(50))[-1]
    assert lo > 427 and hi > 5 * lo


@pytest.mark.slow
def test_receptive_field_tool_prints_and_plots(tmp_path):
    out = run_python('tools/receptive_field.py', '--out',
                     str(tmp_path / 'rf.png'))
    assert out.returncode == 0, out.stderr[-2000:]
    assert '427 - 427' in out.stdout
    assert (tmp_path / 'rf.png').read_bytes()[:4] == b'\x89PNG'
