# Copyright (c) mmscalenet contributors. All rights reserved.
"""Every backbone variant: shapes, no NaNs, with_cp, freezing, FLOPs."""
import math

import pytest
import torch
import torch.nn as nn
from helpers import deepest_slow
from torch.nn.modules.batchnorm import _BatchNorm

from mmscalenet.models import (PUBLISHED_VARIANTS, Bottleneck, CifarResNet,
                               CifarScaleNet, ScaleNet)

IMAGENET_VARIANTS = [
    (50, 'scalenet50'),
    (50, 'scalenet50_light'),
    (101, 'scalenet101'),
    (152, 'scalenet152'),
    (50, 'seed'),
    (50, 'even'),
]
CIFAR_VARIANTS = [
    (CifarScaleNet, 38, 'even'),
    (CifarScaleNet, 56, 'even'),
    (CifarScaleNet, 101, 'even'),
    (CifarScaleNet, 56, 'seed'),
    (CifarResNet, 38, None),
    (CifarResNet, 56, None),
    (CifarResNet, 101, None),
]


def imagenet_sizes(h, w):
    """Expected stage sides: stem conv /2, max pool /2, then a 2x2 pool per
    stage (a 1-pixel map stays 1 pixel)."""
    sizes = []
    h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    for i in range(4):
        if i > 0:
            h, w = max(1, h // 2), max(1, w // 2)
        sizes.append((h, w))
    return sizes


def build_imagenet(depth, structure, **kwargs):
    return ScaleNet(depth, structure, **kwargs)


def build_cifar(cls, depth, structure, **kwargs):
    if structure is not None:
        kwargs['structure'] = structure
    return cls(depth, **kwargs)


@pytest.mark.parametrize('depth, structure', IMAGENET_VARIANTS)
def test_imagenet_forward(depth, structure):
    model = build_imagenet(depth, structure)
    model.init_weights()
    x = torch.randn(2, 3, 64, 64)
    outs = model(x)
    assert isinstance(outs, tuple) and len(outs) == 4
    for out, c, (h, w) in zip(outs, (256, 512, 1024, 2048),
                              imagenet_sizes(64, 64)):
        assert out.shape == (2, c, h, w)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('cls, depth, structure', CIFAR_VARIANTS)
def test_cifar_forward(cls, depth, structure):
    model = build_cifar(cls, depth, structure, out_indices=(0, 1, 2))
    model.init_weights()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 32, 32),
                                              (2, 128, 16, 16),
                                              (2, 256, 8, 8)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_cifar_blocks_per_stage():
    # Paper section 4.2: n = 4, 6, 10 blocks per stage.
    for depth, n in ((38, 4), (56, 6), (101, 10)):
        for cls in (CifarScaleNet, CifarResNet):
            model = cls(depth)
            for stage in (model.layer1, model.layer2, model.layer3):
                assert len(stage) == n
                assert all(isinstance(b, Bottleneck) for b in stage)


def _with_cp_matches(model_plain, model_cp, x):
    model_cp.load_state_dict(model_plain.state_dict())
    model_plain.train()
    model_cp.train()
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    out1, out2 = model_plain(x1), model_cp(x2)
    for a, b in zip(out1, out2):
        assert torch.allclose(a, b, atol=1e-5)
    sum(o.sum() for o in out1).backward()
    sum(o.sum() for o in out2).backward()
    assert torch.allclose(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('depth, structure', deepest_slow(IMAGENET_VARIANTS))
def test_imagenet_with_cp_equals_plain(depth, structure):
    _with_cp_matches(
        build_imagenet(depth, structure),
        build_imagenet(depth, structure, with_cp=True),
        torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize('cls, depth, structure', CIFAR_VARIANTS)
def test_cifar_with_cp_equals_plain(cls, depth, structure):
    _with_cp_matches(
        build_cifar(cls, depth, structure),
        build_cifar(cls, depth, structure, with_cp=True),
        torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 3])
def test_frozen_stages(frozen_stages):
    model = ScaleNet(50, frozen_stages=frozen_stages)
    assert model.train() is model
    frozen = [model.conv1, model.norm1] if frozen_stages >= 0 else []
    frozen += [
        getattr(model, f'layer{i}') for i in range(1, frozen_stages + 1)
    ]
    trainable = [
        getattr(model, f'layer{i}') for i in range(frozen_stages + 1, 5)
        if i >= 1
    ]
    for m in frozen:
        assert not m.training
        assert all(not p.requires_grad for p in m.parameters())
    for m in trainable:
        assert m.training
        assert all(p.requires_grad for p in m.parameters())
    # Frozen norms keep their statistics in a training step.
    if frozen_stages >= 0:
        before = model.norm1.running_mean.clone()
        model(torch.randn(2, 3, 32, 32))
        assert torch.equal(before, model.norm1.running_mean)


@pytest.mark.parametrize('cls', [CifarScaleNet, CifarResNet])
def test_cifar_frozen_stages(cls):
    model = cls(38, frozen_stages=2).train()
    for m in (model.conv1, model.norm1, model.layer1, model.layer2):
        assert not m.training
        assert all(not p.requires_grad for p in m.parameters())
    assert model.layer3.training
    assert all(p.requires_grad for p in model.layer3.parameters())


def test_norm_eval():
    model = ScaleNet(50, norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    assert model.layer2.training
    model = ScaleNet(50, norm_eval=False).train()
    assert all(m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


class Classifier(nn.Module):
    """Backbone + global average pooling + fc, as the reference table."""

    def __init__(self, backbone, num_classes=1000):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.feat_dim, num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def conv_fc_macs(model, x):
    total = [0]

    def hook(m, inputs, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += out[0].numel() * k * m.in_channels // m.groups
        else:
            total[0] += m.in_features * m.out_features

    handles = [
        m.register_forward_hook(hook) for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return total[0]


@pytest.mark.parametrize('name', deepest_slow(sorted(PUBLISHED_VARIANTS)))
def test_macs_and_params_equal_the_published_table(name):
    """Exact integers: ours, the table's and the authors' model's."""
    from mmscalenet.analysis.official_scalenet import OfficialScaleNet
    variant = PUBLISHED_VARIANTS[name]
    model = Classifier(ScaleNet(variant.depth, name, out_indices=(3, )))
    x = torch.rand(1, 3, 224, 224)
    assert conv_fc_macs(model, x) == variant.macs
    assert sum(p.numel() for p in model.parameters()) == variant.params
    official = OfficialScaleNet(name)
    assert conv_fc_macs(official, x) == variant.macs
    assert sum(p.numel() for p in official.parameters()) == variant.params


def test_light_saves_30_percent_of_resnet50():
    from mmpretrain.models import ResNet
    backbone = ResNet(50, out_indices=(3, ))
    backbone.feat_dim = 2048
    resnet50 = conv_fc_macs(Classifier(backbone), torch.rand(1, 3, 224, 224))
    variant = PUBLISHED_VARIANTS['scalenet50_light']
    assert resnet50 == variant.resnet_macs
    # 1.228 G of 4.089 G: 30.0% (the paper rounds it to "1.2G, 29%").
    saving = 1 - variant.macs / resnet50
    assert variant.resnet_macs - variant.macs == 1227708416
    assert round(saving, 3) == 0.300


@pytest.mark.parametrize('size', [(32, 32), (97, 131), (600, 1000),
                                  (800, 1216)])
def test_odd_and_detection_input_sizes(size):
    model = ScaleNet(50).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for out, c, hw in zip(outs, (256, 512, 1024, 2048), imagenet_sizes(*size)):
        assert out.shape == (1, c, *hw)
        assert torch.isfinite(out).all()


def test_inputs_smaller_than_32_still_run():
    model = ScaleNet(50).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 17, 9))
    assert [tuple(o.shape[-2:]) for o in outs] == imagenet_sizes(17, 9)


def test_depth_structure_mismatch_is_an_error():
    with pytest.raises(ValueError, match='ScaleNet-101 has 33 blocks.*16'):
        ScaleNet(101, 'scalenet50')
    with pytest.raises(KeyError, match='invalid depth 34'):
        ScaleNet(34)
    with pytest.raises(ValueError, match='has 5 entries, but with 3 pooling '
                       'factors a row is'):
        ScaleNet(50, 'scalenet50', pool_factors=(1, 2, 4))
    with pytest.raises(ValueError, match=r'out_indices \(4,\)'):
        ScaleNet(50, out_indices=(4, ))


def test_inline_rows_and_seed_widths():
    rows = [[8, 4, 2, 2, 56]] * 3 + [[8, 8, 0, 0, 28]] * 4 + \
        [[16, 0, 0, 0, 14]] * 6 + [[4, 4, 4, 4, 7]] * 3
    model = ScaleNet(50, rows)
    assert model.layer1[0].conv2.out_channels == [8, 4, 2, 2]
    assert model.layer3[5].conv2.scales == [0]
    seed = ScaleNet(50, 'seed')
    assert seed.layer4[0].conv2.out_channels == [512] * 4
    seed3 = ScaleNet(50, 'seed', pool_factors=(1, 2, 4))
    assert seed3.layer2[0].conv2.out_channels == [128] * 3


def test_the_default_init_zeroes_last_norms_and_the_authors_is_one_flag():
    """Kaiming fan-out convs either way; the stock ResNets' zeroed last
    norms by default, the authors' weight 1 with zero_init_residual=False."""
    model = ScaleNet(50)
    model.init_weights()
    conv = model.layer3[1].conv2.convs['0']
    n = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    assert abs(conv.weight.std().item() - math.sqrt(2 / n)) < 0.1 * math.sqrt(
        2 / n)
    assert all(torch.all(b.norm3.weight == 0)
               for layer in (model.layer1, model.layer4) for b in layer)
    assert torch.all(model.layer1[0].conv2.norms['0'].weight == 1)
    authors = ScaleNet(50, zero_init_residual=False)
    authors.init_weights()
    assert torch.all(authors.layer1[0].norm3.weight == 1)


def test_eval_returns_self_and_norm_layers_are_configurable():
    model = ScaleNet(50, norm_cfg=dict(type='GN', num_groups=1))
    assert model.eval() is model
    assert isinstance(model.layer1[0].conv2.norms['0'], nn.GroupNorm)
