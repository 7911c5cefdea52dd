# Copyright (c) mmscalenet contributors. All rights reserved.
"""The per-device SA paths and the GPU-shaped channel counts: every path
computes the plain model's function (on the CPU here; the GPU script checks
the same on the GPU)."""
import copy
import re
from dataclasses import replace

import pytest
import torch
from helpers import randomize_norms

from mmscalenet.analysis.equivalence import (check_paths, path_candidates,
                                             relative_error)
from mmscalenet.models import ChannelSpec, ScaleNet, execution
from mmscalenet.models.execution import (CPU_TUNED, CUDA_STREAMS, PLAIN,
                                         POOLED_PROJECTION, MeasuredChoice,
                                         forced_sa_paths, measured_choice,
                                         sa_paths)


def test_paths_are_chosen_per_device():
    assert sa_paths(torch.device('cpu')) == CPU_TUNED
    assert sa_paths(torch.device('cpu'), torch.bfloat16) == CPU_TUNED
    assert sa_paths(torch.device('meta')) == PLAIN
    with forced_sa_paths('cpu-tuned'):
        assert sa_paths(torch.device('cuda')) == CPU_TUNED
        with forced_sa_paths('plain'):
            assert sa_paths(torch.device('cpu')) == PLAIN
        assert sa_paths(torch.device('cpu')) == CPU_TUNED
    with forced_sa_paths(POOLED_PROJECTION):
        paths = sa_paths(torch.device('cpu'))
    assert paths.pooled_projection == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="SA paths must be one of"):
        with forced_sa_paths('fast'):
            pass


@pytest.fixture
def gpu_of_capability(monkeypatch):
    """Pretend torch sees a GPU of a given compute capability; the paths
    chosen so far are forgotten before and after."""
    monkeypatch.setattr(execution, '_chosen', {})
    capability = {}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_capability',
                        lambda device=None: capability['value'])

    def set_capability(value):
        capability['value'] = value
        execution._chosen.clear()

    return set_capability


def test_a_gpu_takes_the_row_measured_on_its_architecture(
        gpu_of_capability, monkeypatch):
    gpu = torch.device('cuda', 0)
    gpu_of_capability((9, 0))  # Hopper: the H200 measured the plain order
    for dtype in (torch.float32, torch.bfloat16):
        choice = measured_choice(gpu, dtype)
        assert choice.capability == (9, 0) and choice.paths == PLAIN
        assert 'H200' in choice.measured
    # float16 was not measured on the H200: the H100's any-dtype row.
    assert 'H100' in measured_choice(gpu, torch.float16).measured
    gpu_of_capability((8, 0))  # no one measured an A100: the plain order
    assert measured_choice(gpu, torch.float32) is None
    assert sa_paths(gpu) == PLAIN
    # A row for a dtype comes before one for any dtype when listed first.
    amp = replace(CUDA_STREAMS, pooled_projection=(0, ))
    monkeypatch.setattr(execution, 'MEASURED_CHOICES', (
        MeasuredChoice('cuda', (9, 0), torch.float16, amp, 'a test'),
        MeasuredChoice('cuda', (9, 0), None, CUDA_STREAMS, 'a test'),
    ))
    gpu_of_capability((9, 0))
    assert sa_paths(gpu, torch.float16) == amp
    assert sa_paths(gpu, torch.float32) == CUDA_STREAMS
    assert sa_paths(torch.device('cpu')) == PLAIN  # no row for it now


def test_every_measured_row_names_its_measurement_and_a_checked_path():
    """Each row says which device, torch and date chose it; each chooses a
    path check_paths compares (or the plain order), per stage for the
    pooled projection."""
    checked = [PLAIN] + path_candidates(torch.device('cuda'))
    for row in execution.MEASURED_CHOICES:
        assert re.search(r'torch \d+\.\d+.*, 20\d\d-\d\d-\d\d',
                         row.measured), row.measured
        assert replace(row.paths, pooled_projection=()) in [
            replace(p, pooled_projection=()) for p in checked
        ], row
        assert set(row.paths.pooled_projection) <= {0, 1, 2, 3}


def test_every_path_computes_the_plain_function():
    """check_paths on the CPU: eval outputs of each SA path, deploy,
    zero-padded deploy and the padded build; training loss and gradients."""
    checks = check_paths(50, 'cpu', batch=2, size=96)
    assert len(checks) == 11
    for check in checks:
        assert check.passed, str(check)


def test_the_plain_path_is_not_the_tuned_one():
    """The two paths really differ in what they run (else the check above
    compares a path with itself): the tuned one writes a buffer through
    broadcast views, the plain one concatenates."""
    model = ScaleNet(50).eval()
    x = torch.randn(1, 3, 64, 64)
    calls = []
    original = torch.cat

    def counting_cat(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    torch.cat = counting_cat
    try:
        with torch.no_grad(), forced_sa_paths('cpu-tuned'):
            model(x)
        tuned = len(calls)
        with torch.no_grad(), forced_sa_paths('plain'):
            model(x)
    finally:
        torch.cat = original
    assert tuned == 0 and len(calls) > 0


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
