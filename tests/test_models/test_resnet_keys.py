# Copyright (c) mmscalenet contributors. All rights reserved.
"""Every key of mmdet's, mmpretrain's and mmseg's ``ResNet``: honoured with
ResNet's meaning, or refused in one line naming the key and the remedy."""
import inspect

import pytest
import torch
import torch.nn as nn
from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack

from mmscalenet.analysis.complexity import measure_complexity
from mmscalenet.models import CifarResNet, CifarScaleNet, ScaleNet
from mmscalenet.models.resnet_settings import (DEFAULT_INIT_CFG,
                                               block_dilations,
                                               drop_path_rates)


def stock_resnets():
    """``(name, class whose signature is read, the keys the named class
    sets itself)`` for every stock ResNet: mmpretrain's ResNetV1c/V1d take
    ``**kwargs`` and fix ``deep_stem``/``avg_down`` over ResNet's."""
    from mmdet.models.backbones import ResNet as DetResNet
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    from mmseg.models.backbones import ResNet as SegResNet
    from mmseg.models.backbones import ResNetV1c as SegResNetV1c
    return [
        ('mmdet.ResNet', DetResNet, {}),
        ('mmpretrain.ResNet', PretrainResNet, {}),
        ('mmpretrain.ResNetV1c', PretrainResNet, dict(deep_stem=True)),
        ('mmpretrain.ResNetV1d', PretrainResNet,
         dict(deep_stem=True, avg_down=True)),
        ('mmseg.ResNet', SegResNet, {}),
        ('mmseg.ResNetV1c', SegResNetV1c.__mro__[1], dict(deep_stem=True)),
    ]


def stock_defaults(cls):
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in ('self', 'depth')
        and p.default is not inspect.Parameter.empty
    }


def one_line_error(exc_info, *fragments):
    message = str(exc_info.value)
    assert '\n' not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize('name,cls,class_keys', stock_resnets(),
                         ids=[n for n, _, _ in stock_resnets()])
def test_every_stock_resnet_key_is_taken_with_its_default(
        name, cls, class_keys):
    """A stock ResNet's whole signature, at its defaults, builds a ScaleNet;
    a key its class sets itself (ResNetV1d's avg_down) is refused in one
    line, not by Python's argument binding."""
    settings = {**stock_defaults(cls), **class_keys}
    assert {'num_stages', 'style', 'out_indices', 'norm_eval'} <= set(
        settings)
    if class_keys.get('avg_down'):
        with pytest.raises(ValueError) as e:
            ScaleNet(depth=50, **settings)
        one_line_error(e, 'avg_down=True', 'use avg_down=False')
        settings['avg_down'] = False
    model = ScaleNet(depth=50, **settings)
    assert model.deep_stem == class_keys.get('deep_stem', False)
    assert model.num_stages == settings['num_stages']
    out = model(torch.rand(1, 3, 64, 64))
    assert out[-1].shape == (1, 2048, 2, 2)


@pytest.mark.parametrize('key,value,remedy', [
    ('style', 'caffe', "use style='pytorch'"),
    ('avg_down', True, 'use avg_down=False'),
    ('expansion', 2, 'use expansion=None'),
])
def test_a_key_without_meaning_for_scalenet_is_refused_in_one_line(
        key, value, remedy):
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, **{key: value})
    one_line_error(e, f'{key}={value!r}', remedy)


def test_the_cifar_stem_refuses_deep_stem_and_keeps_scalenets_refusals():
    with pytest.raises(ValueError) as e:
        CifarScaleNet(depth=38, deep_stem=True)
    one_line_error(e, 'deep_stem=True', 'use deep_stem=False')
    with pytest.raises(ValueError) as e:
        CifarScaleNet(depth=38, style='caffe')
    one_line_error(e, "style='caffe'")


def test_cifar_resnet_honours_caffe_style_and_avg_down():
    model = CifarResNet(depth=38, style='caffe', avg_down=True)
    first = model.layer2[0]
    assert first.conv1.stride == (2, 2) and first.conv2.stride == (1, 1)
    assert isinstance(first.downsample[0], nn.AvgPool2d)
    assert first.downsample[1].stride == (1, 1)
    assert model(torch.rand(2, 3, 32, 32))[0].shape == (2, 256, 8, 8)


def test_deep_stem_is_three_convs_and_freezes_with_stage_0():
    model = ScaleNet(depth=50, deep_stem=True, stem_channels=64,
                     frozen_stages=0)
    convs = [m for m in model.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 32, 2), (32, 32, 1), (32, 64, 1)
    ]
    assert not hasattr(model, 'conv1')
    assert not any(p.requires_grad for p in model.stem.parameters())
    model.train()
    assert not model.stem[1].training
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 256, 16, 16)


def test_stem_channels_none_means_base_channels_as_in_mmdet():
    model = ScaleNet(depth=50, structure='even', stem_channels=None,
                     base_channels=32)
    assert model.conv1.out_channels == 32


def test_num_stages_builds_the_first_stages_of_the_structure():
    full = ScaleNet(depth=50)
    model = ScaleNet(depth=50, num_stages=3, strides=(1, 2, 2),
                     dilations=(1, 1, 1), out_indices=(2, ))
    assert model.res_layers == ['layer1', 'layer2', 'layer3']
    assert model.layer3[5].conv2.out_channels == \
        full.layer3[5].conv2.out_channels
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 1024, 4, 4)
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, num_stages=5)
    one_line_error(e, 'num_stages=5')


def test_contract_dilation_and_multi_grid_set_each_blocks_dilation():
    assert block_dilations(2, 3, contract_dilation=True) == [1, 2, 2]
    assert block_dilations(1, 2, contract_dilation=True) == [1, 1]
    model = ScaleNet(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                     contract_dilation=True, multi_grid=(1, 2, 4))
    layer3 = [b.conv2.dilation for b in model.layer3]
    layer4 = [b.conv2.dilation for b in model.layer4]
    assert layer3 == [1] + [2] * 5 and layer4 == [1, 2, 4]
    # The 3x3 convs of the block's scales carry it (1x1 convs do not).
    assert model.layer4[2].conv2.convs['0'].dilation == (4, 4)
    assert model(torch.rand(1, 3, 64, 64))[-1].shape == (1, 2048, 8, 8)
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, multi_grid=(1, 2))
    one_line_error(e, 'multi_grid=(1, 2)', '(3)')


def test_drop_path_rates_are_mmpretrains():
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    reference = PretrainResNet(depth=50, drop_path_rate=0.2)
    want = [
        getattr(b.drop_path, 'drop_prob', 0.0) for layer in
        (reference.layer1, reference.layer2, reference.layer3,
         reference.layer4) for b in layer
    ]
    model = ScaleNet(depth=50, drop_path_rate=0.2)
    got = [
        getattr(b.drop_path, 'drop_prob', 0.0)
        for name in model.res_layers for b in getattr(model, name)
    ]
    assert got == pytest.approx(want) and got[-1] == pytest.approx(0.2)
    assert drop_path_rates(0.0, (2, )) == [[0.0, 0.0]]
    # Training drops whole residual branches per sample; eval does not.
    x = torch.rand(4, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x)[-1], model(x)[-1])
    model.train()
    torch.manual_seed(0)
    a = model(x)[-1]
    torch.manual_seed(1)
    assert not torch.allclose(a, model(x)[-1])


def test_init_cfg_none_means_the_default_initialization():
    assert ScaleNet(depth=50, init_cfg=None).init_cfg == DEFAULT_INIT_CFG


@pytest.mark.parametrize('init', [
    dict(init_cfg=dict(type='Pretrained',
                       checkpoint='torchvision://resnet50')),
    dict(pretrained='open-mmlab://resnet50_v1c'),
])
def test_a_resnet_checkpoint_is_refused_before_any_weight_is_loaded(init):
    model = ScaleNet(depth=50, **init)
    with pytest.raises(ValueError) as e:
        model.init_weights()
    one_line_error(e, 'a ResNet checkpoint', 'init_cfg=None',
                   "checkpoint='scalenet50.pth'")


def test_dcn_makes_every_scales_3x3_conv_deformable_in_its_stages():
    dcn = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
    # The seed structure has every scale, the single-pixel ones (1x1) too.
    model = ScaleNet(depth=50, structure='seed', dcn=dcn,
                     stage_with_dcn=(False, True, True, True))
    for name in model.res_layers:
        for block in getattr(model, name):
            for conv in block.conv2.convs.values():
                deformable = isinstance(conv, ModulatedDeformConv2dPack)
                want = name != 'layer1' and conv.kernel_size == (3, 3)
                assert deformable == want, (name, conv)
    # The 1x1 conv of layer4's single-pixel scale stays plain.
    assert model.layer4[0].conv2.convs['3'].kernel_size == (1, 1)
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    sum(o.float().mean() for o in out).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]
    # mmdet's 'DCN' (v1) builds too.
    v1 = ScaleNet(depth=50, dcn=dict(type='DCN', deform_groups=1),
                  stage_with_dcn=(False, False, False, True))
    assert isinstance(v1.layer4[0].conv2.convs['0'], DeformConv2dPack)
    # Its coarse scales' pooled maps (1x1 here) are smaller than its kernel.
    assert v1(x)[-1].shape == (2, 2048, 2, 2)
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, dcn=dcn, stage_with_dcn=(True, ))
    one_line_error(e, 'stage_with_dcn=(True,)', 'num_stages=4')


def test_get_flops_counts_the_deformable_convs():
    """A deformable conv costs the plain conv's MACs plus those of its
    offset conv (an ``nn.Conv2d``)."""
    x = torch.rand(1, 3, 224, 224)
    plain = ScaleNet(depth=50).eval()
    dcn = ScaleNet(depth=50,
                   dcn=dict(type='DCNv2', deform_groups=1),
                   stage_with_dcn=(False, False, False, True)).eval()
    offsets = dict(n_convs=0, macs=0)

    def count(module, inputs, output):
        offsets['n_convs'] += 1
        offsets['macs'] += output.numel() * module.in_channels * \
            module.kernel_size[0] * module.kernel_size[1]

    hooks = [
        m.conv_offset.register_forward_hook(count) for m in dcn.modules()
        if isinstance(m, ModulatedDeformConv2dPack)
    ]
    with torch.no_grad():
        dcn(x)
    for h in hooks:
        h.remove()
    assert offsets['n_convs'] > 0
    got = measure_complexity(dcn, (x, ))
    want = measure_complexity(plain, (x, ))
    assert got.macs == want.macs + offsets['macs']


#: mmdet's empirical attention plugin (configs/empirical_attention).
ATTENTION = dict(type='GeneralizedAttention', spatial_range=-1, num_heads=8,
                 attention_type='1111', kv_stride=2)


@pytest.mark.parametrize('position,plugin,multiple,channels', [
    ('after_conv1', dict(type='NonLocal2d', reduction=2), 1, 64),
    ('after_conv2', dict(type='ContextBlock', ratio=1. / 4), 1, 88),
    ('after_conv2', ATTENTION, 8, 104),
    ('after_conv3', dict(type='ContextBlock', ratio=1. / 16), 1, 256),
])
def test_plugins_sit_where_mmdets_bottleneck_puts_them(
        position, plugin, multiple, channels):
    """``after_conv2`` is after the SA block: its input is the block's
    concatenated scales (88 channels in ScaleNet-50's first block, 104
    padded to multiples of 8)."""
    model = ScaleNet(depth=50, channel_multiple=multiple, plugins=[
        dict(cfg=plugin, stages=(True, False, False, True),
             position=position)
    ])
    block = model.layer1[0]
    (name, ) = block.plugin_names[position]
    layer = getattr(block, name)
    assert layer.in_channels == channels
    assert not any(model.layer2[0].plugin_names.values())
    assert len(model.layer4[2].plugin_names[position]) == 1
    x = torch.rand(1, 3, 64, 64)
    calls = []
    handle = layer.register_forward_hook(lambda *a: calls.append(1))
    out = model(x)
    handle.remove()
    assert calls == [1]
    sum(o.mean() for o in out).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]
    complexity = measure_complexity(model.eval(), (x, ))
    assert complexity.macs > measure_complexity(
        ScaleNet(depth=50).eval(), (x, )).macs


def test_a_plugin_that_cannot_take_an_sa_width_is_refused_when_built():
    """mmcv's GeneralizedAttention wants a width divisible by 4; the SA
    block's outputs (175 channels in layer2) are not."""
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, plugins=[
            dict(cfg=ATTENTION, stages=(False, True, True, True),
                 position='after_conv2')
        ])
    one_line_error(e, 'GeneralizedAttention', 'channel_multiple=8')


def test_a_bad_plugin_position_is_refused_in_one_line():
    with pytest.raises(ValueError) as e:
        ScaleNet(depth=50, plugins=[
            dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                 position='after_conv4')
        ])
    one_line_error(e, "'after_conv4'", 'after_conv1')
