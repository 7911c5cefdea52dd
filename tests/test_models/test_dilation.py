# Copyright (c) mmscalenet contributors. All rights reserved.
"""Dilated backbones (mmdet/mmseg's ``strides``/``dilations``) and the
deprecated ``pretrained=`` argument."""
import copy
import warnings

import pytest
import torch
from helpers import randomize_norms

from mmscalenet.models import CifarResNet, CifarScaleNet, SABlock, ScaleNet

OS8 = dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))


@pytest.fixture(scope='module')
def pair():
    """ScaleNet-50 and its output-stride-8 version with the same weights."""
    torch.manual_seed(0)
    plain = randomize_norms(ScaleNet(50)).eval()
    dilated = ScaleNet(50, **OS8).eval()
    # The authors' weights (any checkpoint of the published layout) load
    # unchanged: same keys, same shapes.
    result = dilated.load_state_dict(plain.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return plain, dilated


def test_output_stride_8_shapes_and_agreement(pair):
    plain, dilated = pair
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        outs, douts = plain(x), dilated(x)
    assert [tuple(o.shape) for o in douts] == [(1, 256, 56, 56),
                                               (1, 512, 28, 28),
                                               (1, 1024, 28, 28),
                                               (1, 2048, 28, 28)]
    # Stages before the first changed stride compute the same thing.
    assert torch.equal(outs[0], douts[0]) and torch.equal(outs[1], douts[1])
    # The default strides and dilations, spelled out, are the plain net.
    spelled = ScaleNet(50, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1))
    spelled.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for a, b in zip(outs, spelled.eval()(x)):
            assert torch.equal(a, b)


def test_dilation_reaches_every_3x3_conv_and_no_1x1(pair):
    _, dilated = pair
    for stage, d in zip(range(1, 5), OS8['dilations']):
        for block in getattr(dilated, f'layer{stage}'):
            sa = block.conv2
            assert isinstance(sa, SABlock) and sa.dilation == d
            for i in sa.scales:
                conv = sa.convs[str(i)]
                k = conv.kernel_size[0]
                assert conv.dilation[0] == (d if k == 3 else 1)
                assert conv.padding[0] == (d if k == 3 else 0)
            # Reference sides stay those of the published layout.
            assert sa.side == (56, 28, 14, 7)[stage - 1]
        first = getattr(dilated, f'layer{stage}')[0]
        assert first.stride == OS8['strides'][stage - 1]


def test_deploy_with_cp_and_frozen_stages_keep_working(pair):
    plain, dilated = pair
    x = torch.randn(2, 3, 96, 96)
    deploy = copy.deepcopy(dilated).switch_to_deploy()
    with torch.no_grad():
        for a, b in zip(dilated(x), deploy(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # with_cp: the same outputs and input gradients in training.
    torch.manual_seed(1)
    base = CifarScaleNet(38, strides=(1, 1, 2), dilations=(1, 2, 1)).train()
    cp_net = copy.deepcopy(base)
    for blk in cp_net.modules():
        if hasattr(blk, 'with_cp'):
            blk.with_cp = True
    x0 = torch.randn(2, 3, 32, 32)
    xs = [x0.clone().requires_grad_() for _ in range(2)]
    outs = [net(xi)[0] for net, xi in zip((base, cp_net), xs)]
    torch.testing.assert_close(outs[0], outs[1])
    for out in outs:
        out.sum().backward()
    torch.testing.assert_close(xs[0].grad, xs[1].grad)
    frozen = ScaleNet(50, frozen_stages=2, **OS8).train()
    assert not frozen.layer2[0].conv2.convs['0'].weight.requires_grad
    assert frozen.layer3[0].conv2.convs['0'].weight.requires_grad
    assert not frozen.layer1.training and frozen.layer3.training


def test_onnx_export_of_a_dilated_net(tmp_path):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = randomize_norms(CifarScaleNet(38, strides=(1, 1, 2),
                                          dilations=(1, 2, 1))).eval()
    path = tmp_path / 'dilated.onnx'
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(model, (x, ), str(path), opset_version=17,
                      dynamo=False, input_names=['image'])
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    (got, ) = session.run(None, {'image': x.numpy()})
    with torch.no_grad():
        (expected, ) = model(x)
    assert got.shape == (1, 256, 16, 16)
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4,
                               atol=1e-4)


def test_the_cifar_resnet_dilates_its_3x3_convs():
    net = CifarResNet(38, strides=(1, 1, 2), dilations=(1, 2, 1))
    assert net.layer2[0].conv2.dilation == (2, 2)
    assert net.layer2[0].conv2.stride == (1, 1)
    (out, ) = net(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 256, 16, 16)


@pytest.mark.parametrize('kwargs, message', [
    (dict(strides=(1, 3, 2, 2)), r'strides must be 1 or 2 .* \(1, 3, 2, 2\)'),
    (dict(strides=(1, 2, 2)), r'strides needs one value per stage \(num_stages=4\), '
     r'got \(1, 2, 2\)'),
    (dict(dilations=(1, 0, 1, 1)),
     r'dilations must be positive integers, got \(1, 0, 1, 1\)'),
    (dict(dilations=(1, 1, 2)), r'dilations needs one value per stage'),
])
def test_bad_strides_and_dilations_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScaleNet(50, **kwargs)


def test_pretrained_becomes_init_cfg_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = ScaleNet(50, pretrained='checkpoints/scalenet50.pth')
    assert model.init_cfg == dict(
        type='Pretrained', checkpoint='checkpoints/scalenet50.pth')
    assert any('pretrained is deprecated' in str(w.message) for w in caught)
    with pytest.raises(ValueError, match='init_cfg and pretrained'):
        ScaleNet(50, pretrained='a.pth', init_cfg=dict(type='Kaiming'))
    with pytest.raises(TypeError, match='pretrained must be a str'):
        ScaleNet(50, pretrained=True)


@pytest.fixture(scope='module')
def published_mmseg_scalenet():
    """The dilated ScaleNet-101 of the published MMSegmentation 0.x project
    (restated: the authors' model with the stride/dilation rule, OS8) and
    this package's with its weights, converted as the converter does."""
    from mmscalenet.analysis.official_scalenet import OfficialScaleNet
    from mmscalenet.converters import convert_official_state_dict
    torch.manual_seed(0)
    theirs = randomize_norms(
        OfficialScaleNet('scalenet101', **OS8), seed=1).eval()
    state = convert_official_state_dict(theirs.state_dict(), 'scalenet101')
    backbone = {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    models = {}
    for mode in ('official', 'auto'):
        models[mode] = ScaleNet(
            101, upsample_mode=mode, out_indices=(0, 1, 2, 3), **OS8).eval()
        models[mode].load_state_dict(backbone, strict=True)
    return theirs, models


@pytest.mark.parametrize(
    'size', [(224, 224), pytest.param((250, 234), marks=pytest.mark.slow)])
def test_official_mode_reproduces_the_published_mmseg_scalenet(
        published_mmseg_scalenet, size):
    """upsample_mode='official' computes what the published dilated
    implementation computes, at output stride 8, at 224x224 and at an input
    that is not a multiple of 32; the default 'auto' does not (it fixes the
    nearest/bilinear choice at the reference side)."""
    theirs, ours = published_mmseg_scalenet
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        expected = theirs.stages(x)
        official = ours['official'](x)
        auto = ours['auto'](x)
    for stage, (a, b) in enumerate(zip(official, expected)):
        assert a.shape == b.shape, stage
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(auto[-1], expected[-1], rtol=1e-3, atol=1e-3)
