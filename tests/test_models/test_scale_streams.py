# Copyright (c) mmscalenet contributors. All rights reserved.
"""The SA block's scales on parallel CUDA streams, as far as a CPU can
test them: the fork/join order and the memory records against a recording
stand-in for torch.cuda's stream API, and the CPU taking the plain path.
On a GPU, tools/dev/check_paths.py compares the path's outputs, losses
and float64 gradients with the plain path's (the GPU script runs it), and
the test below does when a GPU is visible."""
import pytest
import torch

from mmscalenet import ScaleNet
from mmscalenet.analysis.equivalence import check_paths
from mmscalenet.models import scale_streams
from mmscalenet.models.execution import forced_sa_paths
from mmscalenet.models.scale_streams import on_parallel_streams


class FakeStream:
    """Records what happens on it into a shared log."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def wait_stream(self, other):
        self.log.append(f'{self.name} waits for {other.name}')


@pytest.fixture
def fake_cuda(monkeypatch):
    log, state = [], {}
    current = FakeStream('current', log)
    state['stream'] = current
    made = iter(range(100))

    class StreamContext:

        def __init__(self, stream):
            self.stream = stream

        def __enter__(self):
            self.previous, state['stream'] = state['stream'], self.stream

        def __exit__(self, *exc):
            state['stream'] = self.previous

    monkeypatch.setattr(scale_streams, '_side_streams', {})
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda device: current)
    monkeypatch.setattr(torch.cuda, 'Stream',
                        lambda index: FakeStream(f'side{next(made)}', log))
    monkeypatch.setattr(torch.cuda, 'stream', StreamContext)
    monkeypatch.setattr(torch.cuda, 'is_current_stream_capturing',
                        lambda: state.get('capturing', False))
    monkeypatch.setattr(
        torch.Tensor, 'record_stream',
        lambda self, stream: log.append(
            f'{self.item():g} recorded on {stream.name}'))

    def scale(value):

        def run():
            log.append(f'scale {value} runs on {state["stream"].name}')
            return torch.tensor(float(value)), False

        return run

    return log, state, scale


def test_scales_fork_from_the_current_stream_and_join_into_it(fake_cuda):
    log, _, scale = fake_cuda
    device = torch.device('cuda', 0)
    parts = on_parallel_streams([scale(1), scale(2), scale(3)], device)
    assert [(p.item(), repeat) for p, repeat in parts] == [(1.0, False),
                                                           (2.0, False),
                                                           (3.0, False)]
    assert log == [
        'side0 waits for current', 'side1 waits for current',
        'scale 2 runs on side0', 'scale 3 runs on side1',
        'scale 1 runs on current',
        'current waits for side0', '2 recorded on current',
        'current waits for side1', '3 recorded on current',
    ]
    # The side streams are made once per device and reused.
    log.clear()
    on_parallel_streams([scale(1), scale(2)], device)
    assert log[0] == 'side0 waits for current'
    assert sorted(scale_streams._side_streams) == [(0, 0), (0, 1)]


def test_no_memory_record_under_cuda_graph_capture(fake_cuda):
    log, state, scale = fake_cuda
    state['capturing'] = True
    on_parallel_streams([scale(1), scale(2)], torch.device('cuda', 0))
    assert not any('recorded' in line for line in log)
    assert log[-1] == 'current waits for side0'


def test_one_scale_or_a_cpu_runs_in_order_on_the_current_stream(fake_cuda):
    log, _, scale = fake_cuda
    on_parallel_streams([scale(1)], torch.device('cuda', 0))
    on_parallel_streams([scale(1), scale(2)], torch.device('cpu'))
    assert log == ['scale 1 runs on current'] + [
        'scale 1 runs on current', 'scale 2 runs on current'
    ]


def test_on_the_cpu_the_path_is_the_plain_one():
    model = ScaleNet(50, out_indices=(0, 1, 2, 3)).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        with forced_sa_paths('plain'):
            plain = model(x)
        with forced_sa_paths('cuda-streams'):
            streams = model(x)
    for a, b in zip(streams, plain):
        assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_on_a_gpu_the_streams_compute_the_plain_function():
    checks = check_paths(50, 'cuda', batch=2, size=96)
    names = [c.name for c in checks]
    assert 'eval, SA paths cuda-streams' in names
    assert 'training, SA paths cuda-streams: gradients (float64)' in names
    assert all(c.passed for c in checks), [str(c) for c in checks]
