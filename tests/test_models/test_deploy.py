# Copyright (c) mmscalenet contributors. All rights reserved.
"""Inference paths: folded norms (deploy mode) and the fast max pooling."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_norms

from mmscalenet.models import (PUBLISHED_VARIANTS, CifarScaleNet, SABlock,
                               ScaleNet)
from mmscalenet.models import pooling
from mmscalenet.models.pooling import StemMaxPool, max_pool_tiled


@pytest.mark.parametrize('structure', sorted(PUBLISHED_VARIANTS))
def test_deploy_equals_eval_on_every_published_structure(structure):
    model = ScaleNet(PUBLISHED_VARIANTS[structure].depth, structure).eval()
    randomize_norms(model)
    deploy = copy.deepcopy(model).switch_to_deploy()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
    for size in ((224, 224), (97, 131)):
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            for a, b in zip(model(x), deploy(x)):
                scale = a.abs().max()
                assert torch.allclose(a, b, atol=1e-5 * scale, rtol=1e-4)


def test_deploy_sa_block_with_bilinear_scales():
    # side 14: factors 4 and 7 pool to 3 and 2 -> bilinear in 'auto' mode.
    block = SABlock(16, [4, 4, 4, 4], side=14).eval()
    assert block._nearest[2] is False
    randomize_norms(block)
    x = torch.randn(2, 16, 14, 14)
    with torch.no_grad():
        expected = block(x)
        got = copy.deepcopy(block).switch_to_deploy()(x)
    assert torch.allclose(expected, got, atol=1e-5, rtol=1e-4)


def test_deploy_needs_batchnorm():
    block = SABlock(8, [4, 4], pool_factors=(1, 2),
                    norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(TypeError, match='GroupNorm'):
        block.switch_to_deploy()


def test_cifar_deploy():
    model = CifarScaleNet(56).eval()
    randomize_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a = model(x)[-1]
        b = copy.deepcopy(model).switch_to_deploy()(x)[-1]
    assert torch.allclose(a, b, atol=1e-5 * a.abs().max(), rtol=1e-4)


@pytest.fixture
def views_at_any_size(monkeypatch):
    """Take the reshaped-view pooling paths on maps of any size."""
    monkeypatch.setattr(pooling, 'MIN_ELEMENTS', 0)


@pytest.mark.parametrize('size', [(56, 56), (13, 9), (7, 7), (8, 15)])
@pytest.mark.parametrize('window', [(2, 2), (4, 4), (7, 7), (3, 2)])
def test_tiled_max_pool_equals_max_pool2d(size, window, views_at_any_size):
    if window[0] > size[0] or window[1] > size[1]:
        pytest.skip('window larger than the map')
    x = torch.randn(2, 5, *size)
    expected = F.max_pool2d(x, window, window)
    with torch.no_grad():
        assert torch.equal(max_pool_tiled(x, window), expected)
        cl = x.contiguous(memory_format=torch.channels_last)
        assert torch.equal(max_pool_tiled(cl, window), expected)
    xg = x.clone().requires_grad_()
    out = max_pool_tiled(xg, window)
    assert torch.equal(out, expected)
    out.sum().backward()
    # max_pool2d's gradient: one 1 per window (no ties in random data).
    assert xg.grad.sum().item() == expected.numel()


@pytest.mark.parametrize('size', [(112, 112), (56, 38), (2, 2), (13, 10)])
def test_stem_max_pool_equals_max_pool2d(size, views_at_any_size):
    pool = StemMaxPool()
    x = torch.randn(2, 5, *size)
    expected = F.max_pool2d(x, 3, 2, 1)
    with torch.no_grad():
        assert torch.equal(pool(x), expected)
        cl = x.contiguous(memory_format=torch.channels_last)
        assert torch.equal(pool(cl), expected)
    xg = x.clone().requires_grad_()
    out = pool(xg)
    assert torch.equal(out, expected)
    out.sum().backward()
    assert xg.grad.sum().item() == expected.numel()
    assert isinstance(pool, nn.MaxPool2d)
    assert pool.extra_repr() == nn.MaxPool2d(3, 2, 1).extra_repr()


@pytest.mark.parametrize('layout',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('size', [(56, 56), (57, 43)])
def test_sa_block_inference_path_equals_autograd_path(
        layout, size, views_at_any_size):
    # Without autograd the scales are written into one buffer, repeated
    # ones through a broadcast view; with autograd it is interpolate + cat.
    block = SABlock(8, [3, 2, 4, 5], side=56).eval()
    randomize_norms(block)
    x = torch.randn(2, 8, *size).contiguous(memory_format=layout)
    with torch.no_grad():
        fast = block(x)
    reference = block(x.clone().requires_grad_())
    assert torch.equal(fast, reference.detach())
    assert fast.is_contiguous(memory_format=layout)
