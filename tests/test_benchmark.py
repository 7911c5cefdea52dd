# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmscalenet.benchmark in process, at tiny sizes (the timings mean nothing
here and are never asserted): the models are told apart by their tags, the
rows judge what they should, and bad settings are refused in one line.
tools/benchmark.py's every row: tests/test_tools.py (slow)."""
import contextlib
import io
import re

import pytest
import torch

from mmscalenet.benchmark import Benchmark, BenchmarkSettings
from mmscalenet.benchmark.models import classifiers, fused, judged
from mmscalenet.benchmark.tables import print_best_paths, print_rows


def test_the_models_are_tagged_by_family_and_judgement():
    models = classifiers(50, size=224, channel_multiple=8)
    assert list(models)[0] == 'ResNet-50'  # the baseline first
    families = {name: m.family for name, m in models.items()}
    assert families['ScaleNet-50'] == 'ScaleNet-50'
    padded = next(n for n in models if 'padded x8' in n)
    assert families[padded] == 'ScaleNet-50'
    authors = "ScaleNet-50 (authors' sequence)"
    assert not models[authors].judged
    assert authors not in judged(models)
    deployed = fused(models, channel_multiple=8)
    assert authors + ' fused' not in deployed  # the reference is not fused
    assert {m.family
            for m in deployed.values()} == {'ResNet-50', 'ScaleNet-50'}
    assert any('zero-padded x8' in n for n in deployed)
    # Below 224 the authors' sequence cannot run (its last pool is 7x7).
    assert authors not in classifiers(50, size=64)


def printed(fn, *args, **kwargs) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue()


def test_rows_judge_only_the_judged_rows_and_best_paths_keep_families():
    text = printed(print_rows, 'T', {'base': 1.0, 'a': 0.8, 'ref': 3.0},
                   'ms', 1e3, 'eval', judged=['a'])
    assert re.search(r'a\s+800.0 ms\s+0.800x   target <= 0.90x: meets', text)
    ref = next(line for line in text.splitlines() if 'ref' in line)
    assert 'target' not in ref  # a row not judged has no verdict
    assert printed(print_rows, 'T', {'base': 0.0, 'a': 1.0}, 'k',
                   1).count('nanx') == 2  # a zero baseline: no ratio
    text = printed(print_best_paths, 'B', {
        'R': 2.0, 'R fused': 1.0, 'S': 1.5, 'S (CUDA graph)': 0.9,
        'authors': 0.1
    }, {'R': 'R', 'R fused': 'R', 'S': 'S', 'S (CUDA graph)': 'S'})
    rows = [line.split()[0:2] for line in text.splitlines()[2:]]
    assert rows == [['R', 'fused'], ['S', '(CUDA']]  # authors: no family


def test_a_tiny_run_prints_its_tables():
    settings = BenchmarkSettings(depths=(50, ), batch=(1, ), size=64,
                                 train_batch=2, rounds=1, warmup=0,
                                 skip_detection=True)
    text = printed(Benchmark(settings).run)
    assert text.startswith('device: CPU, ')
    for title in ('[50] Eval forward, batch 1, 64x64',
                  '[50] Eval forward, batch 1, conv-BN fused',
                  '[50] Best inference path of each, batch 1',
                  '[50] Training step (forward, backward, SGD), batch 2',
                  '[50] Activations saved for backward, batch 2'):
        assert title in text, title
    best = text.split('Best inference path of each')[1].split('\n\n')[0]
    assert len(best.strip().splitlines()) == 3  # title, ResNet, ScaleNet


@pytest.mark.parametrize('settings, message', [
    (dict(channel_multiple=0), '--channel-multiple must be at least 1, '
     'got 0'),
    pytest.param(
        dict(device='cuda'), '--device cuda: no GPU is visible to torch '
        '(torch.cuda.is_available() is False)',
        marks=pytest.mark.skipif(torch.cuda.is_available(),
                                 reason='a GPU is visible')),
])
def test_settings_that_cannot_run_are_refused(settings, message):
    with pytest.raises(ValueError) as error:
        Benchmark(BenchmarkSettings(**settings))
    assert str(error.value) == message


def test_the_device_line_names_every_lever():
    plain = Benchmark(BenchmarkSettings(rounds=3, warmup=2)).device_line()
    assert plain.startswith(f'device: CPU, {torch.get_num_threads()} '
                            f'threads; torch {torch.__version__}; ')
    assert plain.endswith('; fp32; SA paths auto; 3 interleaved rounds '
                          'after 2 warm-up, medians; ratios are ScaleNet / '
                          'ResNet')
    levers = Benchmark(
        BenchmarkSettings(amp=True, channels_last=True,
                          cudnn_benchmark=True, channel_multiple=16,
                          compile=True, compile_mode='max-autotune',
                          inductor_force_layout=True,
                          sa_paths='plain')).device_line()
    assert ('; AMP, channels-last, cudnn.benchmark, channels padded to x16, '
            'torch.compile max-autotune, inductor layout forced; SA paths '
            'plain;') in levers
