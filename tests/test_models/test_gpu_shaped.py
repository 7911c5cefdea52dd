# Copyright (c) mmscalenet contributors. All rights reserved.
"""GPU-shaped channel counts: the zero-padded deploy model and the padded
build compute the published function."""
import copy

import pytest
import torch
from helpers import randomize_norms

from mmscalenet.analysis.equivalence import relative_error
from mmscalenet.models import ChannelSpec, ScaleNet


def test_spec_padding():
    spec = ChannelSpec.load('scalenet50')
    padded = spec.padded(8)
    assert padded.meta['padded_to'] == 8
    for row, base in zip(padded.channels, spec.channels):
        assert all(c % 8 == 0 and c - 8 < b <= c or c == b == 0
                   for c, b in zip(row, base))
    assert padded.padded(8) == padded and spec.padded(1) == spec
    with pytest.raises(ValueError, match='channel multiple must be a '
                       'positive integer, got 0'):
        spec.padded(0)


def test_zero_padded_deploy_is_exact():
    torch.manual_seed(0)
    model = randomize_norms(ScaleNet(50, out_indices=(0, 1, 2, 3))).eval()
    x = torch.randn(1, 3, 96, 96)
    deployed = copy.deepcopy(model).switch_to_deploy()
    padded = copy.deepcopy(model).switch_to_deploy(channel_multiple=8)
    for block in padded.modules():
        if hasattr(block, 'conv3') and hasattr(block.conv2, 'scales'):
            channels = block.conv2.out_channels
            assert all(c % 8 == 0 for c in channels)
            assert block.conv3.in_channels == sum(channels)
    with torch.no_grad():
        for a, b in zip(padded(x), deployed(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='channel_multiple must be a '
                       'positive integer'):
        copy.deepcopy(model).switch_to_deploy(channel_multiple=0)


def test_padded_build_starts_as_the_published_net_and_learns():
    """The published weights load into the padded build; it computes the
    published function (eval and training), and its extra channels get
    gradient: the 1x1 conv's columns for them at once, their filters after
    one step."""
    torch.manual_seed(0)
    published = randomize_norms(ScaleNet(50, out_indices=(0, 1, 2, 3)))
    built = ScaleNet(50, out_indices=(0, 1, 2, 3), channel_multiple=8)
    assert built.spec == built.published_spec.padded(8)
    built.load_state_dict(published.state_dict())
    x = torch.randn(2, 3, 64, 64)
    published.eval()
    built.eval()
    with torch.no_grad():
        for a, b in zip(built(x), published(x)):
            # The 1x1 convs sum over more (zero) columns: the rounding
            # differs, the function does not.
            assert relative_error(a, b) < 1e-5
    # Training mode (batch statistics of 2 images: ill-conditioned in
    # fp32), in float64: the same function to rounding.
    with torch.no_grad():
        outs = zip(copy.deepcopy(built).double().train()(x.double()),
                   copy.deepcopy(published).double().train()(x.double()))
        for a, b in outs:
            assert relative_error(a, b) < 1e-8
    built.train()
    block = built.layer1[0]  # published [62, 9, 5, 12] -> [64, 16, 8, 16]
    assert block.conv2.out_channels == [64, 16, 8, 16]
    sum(o.mean() for o in built(x)).backward()
    extra_columns = block.conv3.weight.grad[:, 62:64]
    assert extra_columns.abs().sum() > 0
    assert block.conv3.weight[:, 62:64].abs().sum() == 0
    # A checkpoint of the padded build itself loads as it is.
    again = ScaleNet(50, out_indices=(0, 1, 2, 3), channel_multiple=8)
    again.load_state_dict(built.state_dict())
    for key, value in again.state_dict().items():
        assert torch.equal(value, built.state_dict()[key]), key
