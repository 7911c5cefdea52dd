# Copyright (c) mmscalenet contributors. All rights reserved.
import json

import pytest

from mmscalenet.models import STRUCTURE_NAMES, ChannelSpec, ScaleNet
from mmscalenet.models.sa_geometry import conv3x3_macs, neuron_macs

BLOCKS = {
    'scalenet50': 16,
    'scalenet50_light': 16,
    'scalenet101': 33,
    'scalenet152': 50
}


@pytest.mark.parametrize('name', STRUCTURE_NAMES)
def test_shipped_structures_load(name):
    spec = ChannelSpec.load(name)
    assert len(spec) == BLOCKS[name]
    assert spec.num_scales == 4
    assert set(spec.sides) == {56, 28, 14, 7}
    assert all(c > 0 for c in spec.out_channels)


def test_scalenet50_first_rows():
    spec = ChannelSpec.load('scalenet50')
    assert spec.rows()[0] == [62, 9, 5, 12, 56]
    assert spec.channels[-1] == (138, 462, 97, 0)


def test_load_json_path_rows_and_roundtrip(tmp_path):
    rows = [[4, 2, 0, 1, 56], [3, 3, 3, 3, 28]]
    path = tmp_path / 'rows.json'
    path.write_text(json.dumps(rows))
    assert ChannelSpec.load(str(path)).rows() == rows
    assert ChannelSpec.load(rows).rows() == rows
    spec = ChannelSpec(rows, meta=dict(budget_ratio=0.7))
    out = tmp_path / 'spec.json'
    spec.dump(str(out))
    again = ChannelSpec.load(str(out))
    assert again == spec and again.meta == dict(budget_ratio=0.7)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'rows.json', 'spec.json'
    ]


@pytest.mark.parametrize('rows, message', [
    ([[4, -1, 0, 1, 56]], 'block 0, scale 1: .* got -1'),
    ([[4, 2, 0, 1, 56], [4, 2.5, 0, 1, 56]], 'block 1, scale 1: .* got 2.5'),
    ([[4, 2, 0, 1, 56], [0, 0, 0, 0, 28]], 'block 1: .* at least one'),
    ([[4, 2, 0, 1, 56], [4, 2, 1, 28]], 'block 1: .* 3 scales'),
    ([[4, True, 0, 1, 56]], 'block 0, scale 1: .* got True'),
    ([[4, 2, 0, 1, 0]], 'block 0: side .* got 0'),
    ([], 'at least one block'),
])
def test_bad_specs_are_refused(rows, message):
    with pytest.raises(ValueError, match=message):
        ChannelSpec(rows)


def test_unknown_structure_names_value():
    with pytest.raises(ValueError, match="'scalenet77'"):
        ChannelSpec.load('scalenet77')
    with pytest.raises(FileNotFoundError, match='nope.json'):
        ChannelSpec.load('/tmp/nope.json')


def test_bad_json_names_file(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('[[1, 2')
    with pytest.raises(ValueError, match='bad.json is not valid JSON'):
        ChannelSpec.load(str(path))


def test_check_layout_names_the_mismatch():
    spec = ChannelSpec.load('scalenet50')
    sides = (56, 28, 14, 7)
    spec.check_layout((3, 4, 6, 3), sides, 4, 'ScaleNet-50')
    with pytest.raises(ValueError, match='ScaleNet-101 has 33 blocks .* 16'):
        spec.check_layout((3, 4, 23, 3), sides, 4, 'ScaleNet-101')
    with pytest.raises(ValueError, match='4 scales .* 3 pooling'):
        spec.check_layout((3, 4, 6, 3), sides, 3, 'ScaleNet-50')
    with pytest.raises(ValueError, match='block 3: structure side 28 .* 14'):
        spec.check_layout((3, 4, 6, 3), (56, 14, 14, 7), 4, 'ScaleNet-50')


def test_seed_spec():
    spec = ChannelSpec.seed((3, 4, 6, 3), (64, 128, 256, 512),
                            (56, 28, 14, 7), 4)
    assert len(spec) == 16
    assert spec.rows()[0] == [64, 64, 64, 64, 56]
    assert spec.rows()[-1] == [512, 512, 512, 512, 7]
    assert spec.out_channels[3] == 4 * 128


def test_even_spec_is_the_largest_within_budget():
    widths, sides = (64, 128, 256, 512), (56, 28, 14, 7)
    factors = (1, 2, 4, 7)
    spec = ChannelSpec.even((3, 4, 6, 3), widths, sides, factors)
    for channels, side, width in zip(spec.channels, spec.sides,
                                     [64] * 3 + [128] * 4 + [256] * 6 +
                                     [512] * 3):
        c = channels[0]
        assert len(set(channels)) == 1
        per_c = sum(
            neuron_macs(width, side, i, f) for i, f in enumerate(factors))
        budget = conv3x3_macs(width, width, side)
        assert c * per_c <= budget < (c + 1) * per_c
    # First stage by hand: 9*64*(56^2 + 28^2 + 14^2 + 8^2) per channel.
    assert spec.channels[0][0] == (64 * 56 * 56) // (
        56 * 56 + 28 * 28 + 14 * 14 + 8 * 8)
    with pytest.raises(ValueError, match='budget_ratio 0.001'):
        ChannelSpec.even((1, ), (64, ), (56, ), factors, budget_ratio=0.001)


def test_rows_one_entry_short_name_both_lengths():
    # The authors' rows without the side: the last count would be read as
    # the side; with the network's pooling factors the length is refused.
    rows = [[61, 11, 7, 0]] * 16
    with pytest.raises(ValueError, match=r'block 0: row \[61, 11, 7, 0\] has '
                       r'4 entries, but with 4 pooling factors a row is '
                       r'\[C_1, ..., C_4, side\]: 5 entries'):
        ScaleNet(50, structure=rows)
    with pytest.raises(ValueError, match='has 4 entries'):
        ChannelSpec.load(rows, num_scales=4)
    assert ChannelSpec.load([[61, 11, 7, 56]], num_scales=3).sides == (56, )
