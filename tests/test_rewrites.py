# Copyright (c) mmscalenet contributors. All rights reserved.
"""The SA block's opt-in rewrites (mmscalenet.rewrites): each computes the
authors' function, each calls every conv and norm through its module, a
model keeps the rewrites it was given, the measured table answers per
device, and the choice tool picks and prints a row that pastes back. The
rewrites against the authors' layer block by block:
tests/test_models/test_sa_block.py."""
import contextlib
import copy
import io
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_norms

from mmscalenet.analysis.equivalence import check_equivalence
from mmscalenet.benchmark import Benchmark, BenchmarkSettings
from mmscalenet.models import SABlock, ScaleNet
from mmscalenet.rewrites import (CPU_TUNED, CUDA_STREAMS, MEASURED_CHOICES,
                                 NAMED_REWRITES, PLAIN, SARewrites,
                                 apply_rewrites, as_rewrites, choice,
                                 measured_choice, measured_rewrites,
                                 rewrites_of)
from mmscalenet.rewrites import pooling, streams
from mmscalenet.rewrites.choice import load_rewrites, save_choice, source_row
from mmscalenet.rewrites.measure import (RewriteChoice, RewriteTimes, beats,
                                         fastest)
from mmscalenet.rewrites.pooling import StemMaxPool, max_pool_tiled


def printed(fn) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn()
    return out.getvalue()


def test_every_rewrite_computes_the_authors_function():
    """check_equivalence on the CPU: eval outputs of each rewrite, deploy,
    zero-padded deploy and the padded build; training loss and float64
    gradients of each rewrite."""
    checks = check_equivalence(50, 'cpu', batch=2, size=96)
    names = [c.name for c in checks]
    assert 'training, SA rewrites pooled-norm: gradients (float64)' in names
    assert len(checks) == 10
    for check in checks:
        assert check.passed, str(check)


def test_a_model_keeps_the_rewrites_it_was_given():
    """Stored per module: two models in one process run different
    rewrites, and 'plain' gives the authors' modules back."""
    tuned = apply_rewrites(ScaleNet(50).eval(), 'cpu-tuned')
    plain = ScaleNet(50).eval()
    other = apply_rewrites(ScaleNet(50).eval(), 'pooled-norm')
    assert rewrites_of(tuned) == {'cpu-tuned'}
    assert rewrites_of(other) == {'pooled-norm'}
    assert rewrites_of(plain) == {'plain'}
    assert isinstance(tuned.maxpool, StemMaxPool)
    assert type(plain.maxpool) is nn.MaxPool2d
    x = torch.randn(1, 3, 64, 64)
    with counted_cats() as cats, torch.no_grad():
        tuned(x)
        tuned_cats = len(cats)
        plain(x)
    # The CPU rewrites write the scales into one buffer; the authors'
    # order concatenates: the two models really run different code.
    assert tuned_cats == 0 and len(cats) > 0
    apply_rewrites(tuned, 'plain')
    assert rewrites_of(tuned) == {'plain'}
    assert {type(m) for m in tuned.modules()} == \
        {type(m) for m in plain.modules()}
    # A deep copy keeps them, as the benchmark's fused copies need.
    assert rewrites_of(copy.deepcopy(apply_rewrites(tuned, 'pooled-norm'))) \
        == {'pooled-norm'}


@contextlib.contextmanager
def counted_cats():
    calls, original = [], torch.cat

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    torch.cat = counting
    try:
        yield calls
    finally:
        torch.cat = original


def test_an_unknown_name_is_refused_with_the_names():
    with pytest.raises(ValueError) as error:
        as_rewrites('fast')
    message = str(error.value)
    assert "'fast'" in message
    assert all(name in message for name in NAMED_REWRITES)


@pytest.mark.parametrize('rewrites, training', [
    *((name, training) for name in NAMED_REWRITES
      for training in (False, True)),
    ('deploy', False),  # the deploy model is for inference
])
def test_every_conv_and_norm_runs_through_its_module(rewrites, training):
    """Forward hooks on every conv and norm fire under every rewrite (and
    on the deploy model), in eval without autograd and in training, as
    FLOPs counters and quantisation observers need."""
    model = ScaleNet(50, zero_init_residual=False)
    if rewrites == 'deploy':
        model.switch_to_deploy()
    else:
        apply_rewrites(model, rewrites)
    model.train(training)
    layers = [
        m for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm))
    ]
    fired = set()
    for layer in layers:
        layer.register_forward_hook(lambda m, i, o: fired.add(id(m)))
    x = torch.randn(2, 3, 64, 64)
    with torch.set_grad_enabled(training):
        model(x)
    missed = [type(m).__name__ for m in layers if id(m) not in fired]
    assert not missed and len(layers) > 90  # 93 convs in ScaleNet-50


def test_the_table_answers_per_device_and_dtype(monkeypatch):
    cpu = torch.device('cpu')
    assert measured_rewrites(cpu) == CPU_TUNED
    assert measured_rewrites(cpu, torch.bfloat16) == PLAIN
    assert measured_rewrites(torch.device('meta')) == PLAIN  # no row
    capability = {}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_capability',
                        lambda device=None: capability['value'])
    gpu = torch.device('cuda', 0)
    capability['value'] = (9, 0)  # Hopper: the H200 measured plain
    for dtype in (torch.float32, torch.bfloat16):
        assert 'H200' in measured_choice(gpu, dtype).measured
    assert 'H100' in measured_choice(gpu, torch.float16).measured
    capability['value'] = (8, 0)  # no one measured an A100
    assert measured_choice(gpu, torch.float32) is None
    # A row for a dtype comes before one for any dtype when listed first.
    monkeypatch.setattr(choice, 'MEASURED_CHOICES', (
        choice.MeasuredChoice('cuda', (8, 0), torch.float16, CPU_TUNED, ''),
        choice.MeasuredChoice('cuda', (8, 0), None, CUDA_STREAMS, ''),
    ))
    assert measured_rewrites(gpu, torch.float16) == CPU_TUNED
    assert measured_rewrites(gpu, torch.float32) == CUDA_STREAMS


def test_every_row_names_its_run_and_a_checked_rewrite():
    for row in MEASURED_CHOICES:
        assert re.search(r'torch \d+\.\d+.*, 20\d\d-\d\d-\d\d',
                         row.measured), row.measured
        assert row.rewrites in NAMED_REWRITES.values(), row


@pytest.fixture
def views_at_any_size(monkeypatch):
    """Take the reshaped-view pooling on maps of any size."""
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
    assert pool.extra_repr() == nn.MaxPool2d(3, 2, 1).extra_repr()


@pytest.mark.parametrize('layout',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('size', [(56, 56), (57, 43)])
def test_the_buffer_concat_equals_the_concatenation(layout, size,
                                                    views_at_any_size):
    """Without autograd the scales are written into one buffer, repeated
    ones through a broadcast view; with autograd it is interpolate + cat;
    the authors' order upsamples before the norm."""
    block = SABlock(8, [3, 2, 4, 5], side=56).eval()
    randomize_norms(block)
    x = torch.randn(2, 8, *size).contiguous(memory_format=layout)
    with torch.no_grad():
        authors = block(x)
        fast = apply_rewrites(block, 'cpu-tuned')(x)
    reference = block(x.clone().requires_grad_())
    assert torch.equal(fast, reference.detach())
    assert torch.equal(fast, authors)
    assert fast.is_contiguous(memory_format=layout)


class FakeStream:
    """A stand-in for a CUDA stream: records, into a shared event list,
    which scale ran on it and what it waited for."""

    def __init__(self, name, events):
        self.name, self.events = name, events

    def wait_stream(self, other):
        self.events.append(('wait', self.name, other.name))


@pytest.fixture
def fake_cuda(monkeypatch):
    events, state = [], {}
    current = FakeStream('current', events)
    state['stream'] = current
    made = iter(range(100))

    class StreamContext:

        def __init__(self, stream):
            self.stream = stream

        def __enter__(self):
            self.previous, state['stream'] = state['stream'], self.stream

        def __exit__(self, *exc):
            state['stream'] = self.previous

    monkeypatch.setattr(streams, '_side_streams', {})
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda device: current)
    monkeypatch.setattr(torch.cuda, 'Stream',
                        lambda index: FakeStream(f'side{next(made)}', events))
    monkeypatch.setattr(torch.cuda, 'stream', StreamContext)
    monkeypatch.setattr(torch.cuda, 'is_current_stream_capturing',
                        lambda: state.get('capturing', False))
    monkeypatch.setattr(
        torch.Tensor, 'record_stream',
        lambda self, stream: events.append(('record', int(self.item()),
                                            stream.name)))

    def scale(value):

        def run():
            events.append(('run', value, state['stream'].name))
            return torch.tensor(float(value))

        return run

    return events, state, scale


@pytest.mark.parametrize('capturing', [False, True])
def test_every_side_stream_is_forked_before_and_joined_after_its_scale(
        fake_cuda, capturing):
    """The properties the streams need, whatever the order of the calls:
    every side stream waits for the current one before its scale runs;
    the current stream waits for it after; each side output is recorded
    on the current stream (which frees it), except under graph capture."""
    events, state, scale = fake_cuda
    state['capturing'] = capturing
    parts = streams.on_parallel_streams([scale(1), scale(2), scale(3)],
                                        torch.device('cuda', 0))
    assert [p.item() for p in parts] == [1.0, 2.0, 3.0]
    runs = {value: (i, stream)
            for i, (kind, value, stream) in enumerate(events)
            if kind == 'run'}
    sides = {stream for _, stream in runs.values()} - {'current'}
    assert len(sides) == 2 and runs[1][1] == 'current'
    for value, (i, stream) in runs.items():
        if stream == 'current':
            continue
        fork = events.index(('wait', stream, 'current'))
        join = events.index(('wait', 'current', stream))
        assert fork < i < join
        recorded = ('record', value, 'current') in events
        assert recorded != capturing


def test_one_scale_or_a_cpu_runs_on_the_current_stream(fake_cuda):
    events, _, scale = fake_cuda
    streams.on_parallel_streams([scale(1)], torch.device('cuda', 0))
    streams.on_parallel_streams([scale(2), scale(3)], torch.device('cpu'))
    assert events == [('run', 1, 'current'), ('run', 2, 'current'),
                      ('run', 3, 'current')]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_on_a_gpu_the_streams_compute_the_authors_function():
    checks = check_equivalence(50, 'cuda', batch=2, size=96)
    assert 'eval, SA rewrites cuda-streams' in [c.name for c in checks]
    assert all(c.passed for c in checks), [str(c) for c in checks]


def test_a_rewrite_beats_plain_only_where_it_pays_in_both_modes():
    ref = RewriteTimes(eval=1.0, train=1.0)
    assert beats(RewriteTimes(0.95, 0.97), ref, margin=0.02)
    assert not beats(RewriteTimes(0.99, 0.99), ref, margin=0.02)
    # Much faster in eval, slower in training: not a trade it makes.
    assert not beats(RewriteTimes(0.6, 1.06), ref, margin=0.02)
    assert beats(RewriteTimes(0.6, 1.04), ref, margin=0.02)
    times = {PLAIN: ref, CPU_TUNED: RewriteTimes(0.9, 0.9),
             CUDA_STREAMS: RewriteTimes(0.8, 0.95)}
    assert fastest(times, PLAIN, 0.02) == CUDA_STREAMS
    assert fastest({PLAIN: ref, CPU_TUNED: RewriteTimes(1.1, 0.9)}, PLAIN,
                   0.02) == PLAIN


@pytest.fixture
def made_up_times(monkeypatch):
    """RewriteChoice with made-up times (real ones mean nothing at this
    size): the norm on pooled maps pays, the rest does not; the outputs
    are really compared."""

    def time(self, candidates):
        return {r: RewriteTimes(*(2 * [0.9 if r == NAMED_REWRITES[
            'pooled-norm'] else 1.0])) for r in candidates}

    monkeypatch.setattr(RewriteChoice, 'time', time)


def test_the_choice_prints_the_row_to_paste_and_saves_it(made_up_times,
                                                         tmp_path):
    run = RewriteChoice(50, torch.device('cpu'), batch=1, train_batch=2,
                        size=64, amp=False, rounds=1, warmup=0,
                        layout=torch.channels_last)
    text = printed(run.run)
    assert 'float32, channels-last;' in text
    assert re.search(r'pooled-norm\s+eval .* beats it', text)
    assert '  chosen: pooled-norm\n' in text
    row = text.split('mmscalenet/rewrites/choice.py:\n')[1].strip()
    pasted = eval(row.rstrip(','), vars(choice))  # noqa: S307
    assert pasted.rewrites == SARewrites(pooled_norm=True)
    assert (pasted.device_type, pasted.capability, pasted.dtype) == (
        'cpu', None, torch.float32)
    assert pasted.measured.endswith(', channels-last')
    path = str(tmp_path / 'chosen.json')
    save_choice(pasted, path)
    assert load_rewrites(path) == pasted.rewrites
    # The benchmark runs the saved choice and names it.
    line = BenchmarkSettings(sa_rewrites=path).device_line()
    assert f'SA rewrites pooled-norm ({path});' in line


def test_a_rewrite_whose_outputs_differ_is_not_timed(made_up_times,
                                                     monkeypatch):
    real = RewriteChoice.equal_outputs

    def broken(self, rewrites):
        return 1.0 if rewrites.pooled_norm else real(self, rewrites)

    monkeypatch.setattr(RewriteChoice, 'equal_outputs', broken)
    run = RewriteChoice(50, torch.device('cpu'), batch=1, train_batch=2,
                        size=64, amp=False, rounds=1, warmup=0)
    text = printed(run.run)
    assert '  pooled-norm: outputs differ from the plain order' in text
    assert '  chosen: plain\n' in text


def test_a_saved_choice_that_is_not_one_is_refused(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"rewrites": {"tiled_pooling": true}}')
    with pytest.raises(ValueError) as error:
        Benchmark(BenchmarkSettings(sa_rewrites=str(bad)))
    assert str(bad) in str(error.value)
    assert '--choose-sa-rewrites' in str(error.value)
    missing = str(tmp_path / 'missing.json')
    with pytest.raises(ValueError, match='FileNotFound'):
        Benchmark(BenchmarkSettings(sa_rewrites=missing))


@pytest.mark.parametrize('rewrites', [
    *NAMED_REWRITES.values(),
    SARewrites(buffer_concat=True, parallel_scales=True)
])
def test_a_printed_row_is_the_python_of_its_choice(rewrites):
    row = choice.MeasuredChoice('cuda', (9, 0), torch.bfloat16, rewrites,
                                "H200, it's measured")
    assert eval(source_row(row), vars(choice)) == row  # noqa: S307
