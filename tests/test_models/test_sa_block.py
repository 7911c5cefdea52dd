# Copyright (c) mmscalenet contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from helpers import randomize_norms
from mmscalenet.analysis.official_scalenet import OfficialSALayer

from mmscalenet.models import SABlock
from mmscalenet.models.sa_geometry import neuron_macs
from mmscalenet.rewrites import NAMED_REWRITES, apply_rewrites

#: The authors' order and every rewrite that runs on a CPU (the CUDA
#: streams run in order there).
REWRITES = [name for name in NAMED_REWRITES if name != 'cuda-streams']


def conv_macs(module, x):
    """Conv MACs of ``module(x)`` measured with forward hooks."""
    total = [0]

    def hook(m, inputs, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += out[0].numel() * k * m.in_channels // m.groups

    handles = [
        m.register_forward_hook(hook) for m in module.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return total[0]


@pytest.mark.parametrize('size', [(56, 56), (13, 9), (3, 5), (1, 1),
                                  (97, 131)])
@pytest.mark.parametrize('downsample', ['max', 'avg', 'conv', 'dilated_conv'])
def test_output_shape_any_size(size, downsample):
    block = SABlock(16, [8, 4, 2, 2], side=56, downsample=downsample)
    out = block(torch.rand(2, 16, *size))
    assert out.shape == (2, 16, *size)
    assert torch.isfinite(out).all()


def test_zero_channel_scales_have_no_layers():
    block = SABlock(16, [8, 0, 4, 0], side=56)
    assert block.scales == [0, 2]
    assert sorted(block.convs.keys()) == ['0', '2']
    assert sorted(block.norms.keys()) == ['0', '2']
    assert block(torch.rand(1, 16, 28, 28)).shape == (1, 12, 28, 28)
    # Parameters: 3x3 convs + BN affine of present scales only.
    expected = 9 * 16 * 12 + 2 * 12
    assert sum(p.numel() for p in block.parameters()) == expected


def test_kernel_rule_and_macs_match_geometry():
    block = SABlock(32, [5, 6, 7, 8], side=7)
    kernels = [block.convs[str(i)].kernel_size for i in range(4)]
    assert kernels == [(3, 3)] * 3 + [(1, 1)]
    macs = conv_macs(block, torch.rand(1, 32, 7, 7))
    assert macs == sum(
        c * neuron_macs(32, 7, i, f)
        for i, (c, f) in enumerate(zip([5, 6, 7, 8], (1, 2, 4, 7))))


@pytest.mark.parametrize('downsample', ['conv', 'dilated_conv', 'avg'])
def test_table8_downsampling_costs_the_same_as_max_pooling(downsample):
    x = torch.rand(1, 16, 32, 32)
    ref = SABlock(16, [8, 8], pool_factors=(1, 2), side=32)
    other = SABlock(
        16, [8, 8], pool_factors=(1, 2), side=32, downsample=downsample)
    assert conv_macs(other, x) == conv_macs(ref, x)
    assert sum(p.numel() for p in other.parameters()) == sum(
        p.numel() for p in ref.parameters())
    if downsample == 'dilated_conv':
        assert other.convs['1'].dilation == (2, 2)
        assert other.convs['1'].stride == (2, 2)


@pytest.mark.parametrize('rewrites', REWRITES)
@pytest.mark.parametrize('side, size', [(56, 56), (28, 28), (14, 14), (7, 7)])
def test_equals_the_authors_layer_at_the_reference_size(side, size, rewrites):
    row = [6, 5, 4, 3, side]
    ours = apply_rewrites(SABlock(16, row[:4], side=side).eval(), rewrites)
    theirs = OfficialSALayer(16, row).eval()
    randomize_norms(theirs)
    ours.load_state_dict({
        k.replace('conv2.', 'convs.').replace('bn2.', 'norms.'): v
        for k, v in theirs.state_dict().items()
    })
    x = torch.randn(2, 16, size, size)
    with torch.no_grad():
        # The authors' layer ends with ReLU; in ScaleNet it is the block's.
        assert torch.equal(torch.relu(ours(x)), theirs(x))


@pytest.mark.parametrize('rewrites', REWRITES)
@pytest.mark.parametrize('momentum', [0.1, None])
@pytest.mark.parametrize('side', [56, 7])
def test_training_equals_the_authors_order(side, momentum, rewrites):
    # With pooled_norm, repeated (nearest) scales are normalized on the
    # pooled map; outputs, gradients and running statistics must be those
    # of normalizing the upsampled map. At side 7 two scales pool to 1x1:
    # 8 values per channel for 392 after upsampling, so a wrong n / (n - 1)
    # shows.
    row = [6, 5, 4, 3, side]
    theirs = OfficialSALayer(16, row).train()
    ours = apply_rewrites(SABlock(16, row[:4], side=side).train(), rewrites)
    for m in list(theirs.modules()) + list(ours.modules()):
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = momentum
    ours.load_state_dict({
        k.replace('conv2.', 'convs.').replace('bn2.', 'norms.'): v
        for k, v in theirs.state_dict().items()
    })
    for step in range(3):
        x = torch.randn(2 if side == 56 else 8, 16, side, side)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        out = torch.relu(ours(xa))
        expected = theirs(xb)
        assert torch.allclose(out, expected, atol=1e-5)
        weights = torch.randn_like(out)
        (out * weights).sum().backward()
        (expected * weights).sum().backward()
        assert torch.allclose(xa.grad, xb.grad, atol=1e-4)
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        their_key = key.replace('convs.', 'conv2.').replace('norms.', 'bn2.')
        assert torch.allclose(value.float(), theirs_state[their_key].float(),
                              rtol=1e-5, atol=1e-6), key
    for name, p in ours.named_parameters():
        their_name = name.replace('convs.', 'conv2.').replace('norms.', 'bn2.')
        their_grad = theirs.get_parameter(their_name).grad
        assert torch.allclose(p.grad, their_grad, rtol=1e-4,
                              atol=1e-5 * their_grad.abs().max()), name


def test_official_mode_follows_the_input_shape_auto_does_not():
    auto = SABlock(4, [2, 2], pool_factors=(1, 2), side=56).eval()
    official = SABlock(
        4, [2, 2], pool_factors=(1, 2), side=56,
        upsample_mode='official').eval()
    official.load_state_dict(auto.state_dict())
    x = torch.randn(1, 4, 56, 56)
    assert torch.equal(auto(x), official(x))
    # 57 is not a multiple of 28: official switches to bilinear, auto stays
    # nearest (the mode the weights were trained with).
    x = torch.randn(1, 4, 57, 57)
    assert not torch.allclose(auto(x), official(x))
    nearest = SABlock(
        4, [2, 2], pool_factors=(1, 2), side=56,
        upsample_mode='nearest').eval()
    nearest.load_state_dict(auto.state_dict())
    assert torch.equal(auto(x), nearest(x))


@pytest.mark.parametrize('kwargs, message', [
    (dict(out_channels=[1, 2], pool_factors=(1, 2, 4)), 'same length'),
    (dict(out_channels=[0, 0]), 'at least one channel'),
    (dict(out_channels=[2, 2], upsample_mode='cubic'), "'cubic'"),
    (dict(out_channels=[2, 2], downsample='stride'), "'stride'"),
    (dict(out_channels=[2, 2], pool_factors=(1, 0)), r'\(1, 0\)'),
])
def test_bad_arguments(kwargs, message):
    kwargs.setdefault('pool_factors', (1, 2))
    with pytest.raises(ValueError, match=message):
        SABlock(8, **kwargs)


@pytest.mark.parametrize('size', [14, 9])  # nearest and bilinear scales
def test_backward_matches_finite_differences(size):
    # Double precision, training mode (batch statistics): the analytic
    # gradients of the input and of every parameter equal numerical ones,
    # along random directions (gradcheck's fast mode: 0.03 s, not 7 s; a
    # gradient 10% off through the nearest upsampling fails it).
    block = SABlock(3, [2, 2, 2, 1], side=14).double().train()
    x = torch.rand(2, 3, size, size, dtype=torch.float64,
                   requires_grad=True)
    params = list(block.parameters())
    assert len(params) == 4 * 3  # conv weight, norm weight and bias
    # Distinct values so that no max pooling window has a tie.
    with torch.no_grad():
        x.copy_(torch.randperm(x.numel(), dtype=torch.float64).view_as(x))
        x.div_(x.numel())

    def f(x, *weights):
        return torch.func.functional_call(
            block, {n: w for (n, _), w in zip(block.named_parameters(),
                                              weights)}, (x, ))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5,
                                    fast_mode=True)
