# Copyright (c) mmscalenet contributors. All rights reserved.
"""Folded norms (deploy mode) compute the eval model's function."""
import copy

import pytest
import torch
import torch.nn as nn
from helpers import deepest_slow, randomize_norms

from mmscalenet.models import (PUBLISHED_VARIANTS, CifarScaleNet, SABlock,
                               ScaleNet)


@pytest.mark.parametrize('structure', deepest_slow(sorted(PUBLISHED_VARIANTS)))
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
