# Copyright (c) mmscalenet contributors. All rights reserved.
"""The converter: authors' layout in, mmpretrain/mmdet-loadable file out."""
import os.path as osp

import pytest
import torch
from helpers import randomize_norms, run_main
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmscalenet.analysis.official_scalenet import OfficialScaleNet

from mmscalenet.converters import (CheckpointMismatchError,
                                   convert_official_checkpoint,
                                   convert_official_state_dict,
                                   rename_official_key)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def official_checkpoint(arch, path):
    """An authors'-layout model with non-trivial BN statistics, saved as a
    plain state_dict."""
    model = randomize_norms(OfficialScaleNet(arch), seed=1)
    torch.save(model.state_dict(), path)
    return model.eval()


def test_key_renaming():
    assert rename_official_key('fc.weight') == 'head.fc.weight'
    assert rename_official_key('conv1.weight') == 'backbone.conv1.weight'
    assert rename_official_key('layer2.0.conv2.3.weight') == \
        'backbone.layer2.0.conv2.convs.3.weight'
    assert rename_official_key('layer4.2.bn2.1.running_var') == \
        'backbone.layer4.2.conv2.norms.1.running_var'
    assert rename_official_key('layer1.0.downsample.1.bias') == \
        'backbone.layer1.0.downsample.1.bias'


def test_round_trip_logits_match(tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    official = official_checkpoint('scalenet50', src)
    out = run_main('tools/convert_official.py', str(src), str(dst), '--arch',
                   'scalenet50')
    assert out.returncode == 0, out.stderr[-2000:]

    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'scalenet50.py'))
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model).eval()
    checkpoint = torch.load(dst, weights_only=True)
    result = classifier.load_state_dict(checkpoint['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = official(x)
        got = classifier(x, mode='tensor')
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4), \
        (got - expected).abs().max()


def test_mmdet_pretrained_prefix_loads_every_backbone_key(tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    official_checkpoint('scalenet50', src)
    convert_official_checkpoint(str(src), str(dst), 'scalenet50')
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        backbone = MODELS.build(
            dict(
                type='ScaleNet',
                depth=50,
                structure='scalenet50',
                frozen_stages=1,
                norm_eval=True,
                init_cfg=dict(
                    type='Pretrained',
                    checkpoint=str(dst),
                    prefix='backbone.')))
    backbone.init_weights()
    state = torch.load(dst, weights_only=True)['state_dict']
    own = backbone.state_dict()
    backbone_keys = [k for k in state if k.startswith('backbone.')]
    assert len(backbone_keys) == len(own)
    for key in backbone_keys:
        assert torch.equal(own[key[len('backbone.'):]], state[key]), key


def test_another_arch_is_refused_and_nothing_is_written(tmp_path):
    src, dst = tmp_path / 'official101.pth', tmp_path / 'out.pth'
    torch.save(OfficialScaleNet('scalenet101').state_dict(), src)
    with pytest.raises(CheckpointMismatchError) as err:
        convert_official_checkpoint(str(src), str(dst), 'scalenet50')
    message = str(err.value)
    assert 'does not match scalenet50' in message
    assert 'unexpected keys' in message and 'shape mismatches' in message
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['official101.pth']


def test_light_vs_full_shape_mismatch_is_named(tmp_path):
    state = OfficialScaleNet('scalenet50_light').state_dict()
    with pytest.raises(CheckpointMismatchError,
                       match=r'shape mismatches: backbone\.layer1\.0\.conv2'):
        convert_official_state_dict(state, 'scalenet50')


def test_missing_keys_are_named_and_existing_dst_is_kept(tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / 'out.pth'
    state = OfficialScaleNet('scalenet50').state_dict()
    del state['fc.bias'], state['layer2.1.bn2.0.running_var']
    torch.save(state, src)
    dst.write_bytes(b'keep me')
    out = run_main('tools/convert_official.py', str(src), str(dst), '--arch',
                   'scalenet50')
    assert out.returncode != 0
    assert '2 missing keys' in out.stderr
    assert 'head.fc.bias' in out.stderr
    assert 'backbone.layer2.1.conv2.norms.0.running_var' in out.stderr
    assert dst.read_bytes() == b'keep me'


def test_dataparallel_prefix_and_wrapped_dicts():
    state = OfficialScaleNet('scalenet50').state_dict()
    wrapped = {'state_dict': {f'module.{k}': v for k, v in state.items()}}
    converted = convert_official_state_dict(wrapped, 'scalenet50')
    assert 'backbone.layer1.0.conv2.convs.0.weight' in converted


@pytest.mark.slow
def test_a_file_that_is_not_a_checkpoint_is_refused_in_one_line(tmp_path):
    dst = tmp_path / 'dst.pth'
    for src, message in [
        (osp.join(REPO, 'README.md'),
         "README.md is not a PyTorch checkpoint (it starts with b'# mm')"),
        (str(tmp_path / 'missing.pth'), 'checkpoint not found: '),
    ]:
        out = run_main('tools/convert_official.py', src, str(dst),
                       '--arch', 'scalenet50')
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('convert_official: ')
        assert message in lines[0], lines[0]
        assert not dst.exists()
