# Copyright (c) mmscalenet contributors. All rights reserved.
"""The 1x1 conv after an SA block on the pooled maps (``pooled_projection``,
a GPU candidate): the same outputs, gradients and running statistics as the
plain order, only in the stages the paths name, and the plain order
wherever the rewrite does not hold (plugins after the SA block, a conv that
is not a plain 1x1 conv, a block outside a backbone)."""
import copy
from dataclasses import replace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import ConvWS2d

from mmscalenet import ScaleNet
from mmscalenet.analysis.equivalence import randomize_norms, relative_error
from mmscalenet.models import scalenet as scalenet_module
from mmscalenet.models.execution import (PLAIN, POOLED_PROJECTION,
                                         forced_sa_paths)
from mmscalenet.models.pooled_projection import (project_scales,
                                                 projects_per_scale)
from mmscalenet.models.scalenet import SABottleneck


def plain_projection(parts, conv, size):
    full = [
        F.interpolate(y, size=size, mode='nearest') if repeat else y
        for y, repeat in parts
    ]
    return conv(torch.cat(full, 1).relu())


@pytest.mark.parametrize('kinds', [
    ('full', 'pooled', 'pooled'),
    ('pooled', 'pooled'),
    ('full', 'pooled', 'full', 'pooled'),
])
@pytest.mark.parametrize('channels_last', [False, True])
def test_project_scales_equals_conv_of_the_concatenation(
        kinds, channels_last):
    """Outputs and gradients (float64), with a bias, where no scale is full
    size, and where the full-size scales are not adjacent columns."""
    torch.manual_seed(0)
    size, widths = (8, 12), [5, 3, 4, 2]
    pooled_sizes = {1: (4, 6), 2: (2, 3), 3: (1, 1)}
    layout = torch.channels_last if channels_last else torch.contiguous_format
    parts = []
    for i, kind in enumerate(kinds):
        shape = size if kind == 'full' else pooled_sizes[i + 1 if i < 3
                                                         else 3]
        parts.append(
            (torch.randn(2, widths[i], *shape, dtype=torch.float64)
             .contiguous(memory_format=layout).requires_grad_(),
             kind == 'pooled'))
    conv = nn.Conv2d(sum(widths[:len(kinds)]), 7, 1).double()
    expected = plain_projection(
        [(y.clone(), r) for y, r in parts], conv, size)
    grads_expected = torch.autograd.grad(expected.square().sum(),
                                         [y for y, _ in parts] +
                                         [conv.weight, conv.bias])
    # project_scales applies its ReLU in place, as the plain order does on
    # the concatenation: give it the parts as a block would, fresh.
    inputs = [(y * 1, r) for y, r in parts]
    got = project_scales(inputs, conv, size)
    grads = torch.autograd.grad(got.square().sum(),
                                [y for y, _ in parts] +
                                [conv.weight, conv.bias])
    assert got.shape == expected.shape
    assert relative_error(got, expected) < 1e-12
    for g, e in zip(grads, grads_expected):
        assert relative_error(g, e) < 1e-12


def test_only_a_plain_1x1_conv_is_split_by_scale():
    assert projects_per_scale(nn.Conv2d(8, 4, 1))
    assert projects_per_scale(nn.Conv2d(8, 4, 1, bias=False))
    assert not projects_per_scale(nn.Conv2d(8, 4, 3, padding=1))
    assert not projects_per_scale(nn.Conv2d(8, 4, 1, stride=2))
    assert not projects_per_scale(nn.Conv2d(8, 4, 1, groups=2))
    # Weight standardisation normalises the weight as a whole.
    assert not projects_per_scale(ConvWS2d(8, 4, 1))


@pytest.fixture
def projections(monkeypatch):
    """Counts the blocks that take the rewrite."""
    calls = []

    def counting(parts, conv, size):
        calls.append(conv)
        return project_scales(parts, conv, size)

    monkeypatch.setattr(scalenet_module, 'project_scales', counting)
    return calls


def test_scalenet_outputs_gradients_and_statistics_equal_the_plain_order(
        projections):
    torch.manual_seed(0)
    model = randomize_norms(ScaleNet(50, out_indices=(0, 1, 2, 3))).double()
    x = torch.randn(2, 3, 96, 96, dtype=torch.float64)
    results = {}
    for name in ('plain', 'pooled-projection'):
        net = copy.deepcopy(model).train()
        with forced_sa_paths(name):
            outs = net(x)
            loss = sum((o**2).mean() for o in outs)
            loss.backward()
        net.eval()
        with torch.no_grad(), forced_sa_paths(name):
            evals = net(x)
        results[name] = (torch.cat([o.flatten() for o in outs]),
                         torch.cat([p.grad.flatten()
                                    for p in net.parameters()]),
                         torch.cat([b.flatten() for b in net.buffers()
                                    if b.is_floating_point()]),
                         torch.cat([o.flatten() for o in evals]))
    assert len(projections) == 2 * 16  # every block, training and eval
    for got, expected in zip(results['pooled-projection'],
                             results['plain']):
        assert relative_error(got, expected) < 1e-7


def test_only_the_named_stages_take_it(projections):
    model = ScaleNet(50).eval()
    with torch.no_grad(), forced_sa_paths(
            replace(PLAIN, pooled_projection=(1, 3))):
        model(torch.rand(1, 3, 64, 64))
    layer2 = [b.conv3 for b in model.layer2]
    layer4 = [b.conv3 for b in model.layer4]
    assert projections == layer2 + layer4


def test_where_it_does_not_hold_the_block_keeps_the_plain_order(
        projections):
    """Plugins after the SA block see its concatenated output; a block
    outside a backbone has no stage; the deployed, zero-padded block still
    takes it (its conv3 stays a plain 1x1 conv)."""
    plugin = dict(
        cfg=dict(type='ContextBlock', ratio=1. / 4),
        position='after_conv2',
        stages=(True, True, True, True))
    with_plugins = ScaleNet(50, plugins=[plugin]).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad(), forced_sa_paths(POOLED_PROJECTION):
        with_plugins(x)
        SABottleneck(64, 16, sa_channels=[8, 4, 4, 4], side=8).eval()(
            torch.rand(1, 64, 8, 8))
    assert projections == []
    deployed = ScaleNet(50).switch_to_deploy(channel_multiple=8)
    with torch.no_grad():
        with forced_sa_paths(PLAIN):
            expected = deployed(x)
        with forced_sa_paths(POOLED_PROJECTION):
            got = deployed(x)
    assert len(projections) == 16
    for a, b in zip(got, expected):
        assert relative_error(a, b) < 1e-5


@pytest.mark.parametrize('training', [False, True])
def test_whole_scalenet_traces_as_one_graph_with_it(training):
    """torch.compile sees one graph on this path too (a GPU candidate is
    measured compiled and in CUDA graphs): dynamo's ``backend='eager'``
    with ``fullgraph=True`` raises at the first break."""
    import torch._dynamo
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = ScaleNet(50, out_indices=(3, )).train(training)
    x = torch.randn(2, 3, 64, 64)
    with forced_sa_paths(POOLED_PROJECTION):
        expected = copy.deepcopy(model)(x)[0]
        traced = torch.compile(model, backend='eager', fullgraph=True)(x)[0]
    assert relative_error(traced, expected) < 1e-6
