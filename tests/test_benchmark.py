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
from mmscalenet.benchmark.tables import (print_best_engines, print_rows,
                                         recorded_to)


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


def test_rows_judge_only_the_judged_rows_and_best_engines_keep_families():
    text = printed(print_rows, 'T', {'base': 1.0, 'a': 0.8, 'ref': 3.0},
                   'ms', 1e3, 'eval', judged=['a'])
    assert re.search(r'a\s+800.0 ms\s+0.800x   target <= 0.90x: meets', text)
    ref = next(line for line in text.splitlines() if 'ref' in line)
    assert 'target' not in ref  # a row not judged has no verdict
    assert printed(print_rows, 'T', {'base': 0.0, 'a': 1.0}, 'k',
                   1).count('nanx') == 2  # a zero baseline: no ratio
    text = printed(print_best_engines, 'B', {
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
                  '[50] Best against best, batch 1',
                  '[50] Training step (forward, backward, SGD), batch 2',
                  '[50] Activations saved for backward, batch 2'):
        assert title in text, title
    best = text.split('Best against best')[1].split('\n\n')[0]
    assert len(best.strip().splitlines()) == 3  # title, ResNet, ScaleNet


@pytest.mark.slow
def test_engines_add_every_deployment_engine_and_best_per_precision():
    from mmscalenet.benchmark.engines import openvino_precisions
    settings = BenchmarkSettings(depths=(50, ), batch=(1, ), size=64,
                                 rounds=1, warmup=0, engines=True,
                                 kernel_table=True, skip_train=True,
                                 skip_detection=True)
    text = printed(Benchmark(settings).run)
    # OpenVINO's own counters: every executed node type, adding up.
    table = text.split('Executed nodes by type, ScaleNet-50 fused '
                       '(OpenVINO f32)')[1].split('\n\n')[0]
    total = float(re.search(r'per inference: ([\d.]+) ms', table)[1])
    rows = re.findall(r'^  (\w+)\s+([\d.]+) ms', table, re.M)
    assert {'Convolution', 'MaxPool'} <= {t for t, _ in rows}
    assert abs(sum(float(ms) for _, ms in rows) - total) < 0.01 * len(rows)
    for row in ('ScaleNet-50 fused (channels-last)',
                'ScaleNet-50 fused (onnxruntime)',
                *[f'ScaleNet-50 fused (OpenVINO {p})'
                  for p in openvino_precisions()]):
        assert row in text, row
    assert 'not measured' not in text
    if 'bf16' in openvino_precisions():
        fp32 = text.split('Best against best, batch 1, fp32')[1]
        fp32 = fp32.split('\n\n')[0]
        assert 'bf16' not in fp32 and len(fp32.strip().splitlines()) == 3
        assert 'Best against best, batch 1, bf16 allowed' in text


@pytest.mark.parametrize('settings, named', [
    (dict(channel_multiple=0), ['--channel-multiple', 'at least 1', 'got 0']),
    (dict(sa_rewrites='fast'),
     ['--sa-rewrites', "'fast'", 'pooled-norm', '--save-sa-rewrites']),
    (dict(amp_dtype='bfloat16'), ['--amp-dtype', 'with --amp',
                                  'without --amp']),
    (dict(amp=True, amp_dtype='float8'), ['--amp-dtype', "'float8'",
                                          'float16 or bfloat16']),
    (dict(save_sa_rewrites='x.json'), ['--save-sa-rewrites',
                                       '--choose-sa-rewrites', 'give both']),
    (dict(choose_sa_rewrites=True, save_sa_rewrites='/nowhere/x.json'),
     ["'/nowhere/x.json'", 'writable folder']),
    (dict(choose_sa_rewrites=True, save_sa_rewrites='x.txt'),
     ["'x.txt'", '.json file']),
    (dict(choose_sa_rewrites=True, sa_rewrites='plain'),
     ['--choose-sa-rewrites', "got 'plain'", 'takes no --sa-rewrites']),
    pytest.param(
        dict(device='cuda'), ['--device cuda', 'no GPU is visible'],
        marks=pytest.mark.skipif(torch.cuda.is_available(),
                                 reason='a GPU is visible')),
])
def test_settings_that_cannot_run_are_refused(settings, named):
    """One line naming the value at fault and what to do instead."""
    with pytest.raises(ValueError) as error:
        Benchmark(BenchmarkSettings(**settings))
    message = str(error.value)
    assert '\n' not in message
    for part in named:
        assert part in message, (part, message)


def test_the_device_line_names_every_lever():
    """Every lever, and the SA rewrites the run takes: auto answers from
    the measured table (on a CPU cpu-tuned for fp32, plain for bf16)."""
    plain = BenchmarkSettings(rounds=3, warmup=2).device_line()
    assert plain.startswith(f'device: CPU, {torch.get_num_threads()} '
                            f'threads; torch {torch.__version__}; ')
    assert plain.endswith('; fp32; SA rewrites cpu-tuned (auto); 3 '
                          'interleaved rounds after 2 warm-up, medians; '
                          'ratios are ScaleNet / ResNet')
    levers = BenchmarkSettings(amp=True, channels_last=True,
                               cudnn_benchmark=True, channel_multiple=16,
                               compile=True, compile_mode='max-autotune',
                               inductor_force_layout=True,
                               sa_rewrites='plain').device_line()
    assert ('; AMP (bfloat16), channels-last, cudnn.benchmark, channels '
            'padded to x16, torch.compile max-autotune, inductor layout '
            'forced; SA rewrites plain;') in levers
    assert '; AMP (bfloat16); SA rewrites plain (auto);' in \
        BenchmarkSettings(amp=True).device_line()
    with pytest.raises(TypeError, match=r"\['depth'\]"):
        BenchmarkSettings(depth=50)


@pytest.mark.parametrize('rewrites, concatenates', [('cpu-tuned', False),
                                                    ('plain', True)])
def test_every_scalenet_of_a_run_takes_the_rewrites_named(rewrites,
                                                          concatenates):
    """The CPU rewrites write the scales into one buffer, the authors'
    order concatenates: the fused ScaleNet's operator table tells."""
    settings = BenchmarkSettings(depths=(50, ), batch=(1, ), size=64,
                                 rounds=1, warmup=0, skip_detection=True,
                                 skip_train=True, kernel_table=True,
                                 sa_rewrites=rewrites)
    text = printed(Benchmark(settings).run)
    tables = text.split('Top operators by self CPU time, ')[1:]
    scalenet = next(t for t in tables if t.startswith('ScaleNet-50 fused'))
    assert ('aten::cat' in scalenet) == concatenates


def test_a_run_that_stops_is_recorded_with_its_rows_and_reason(tmp_path):
    markdown = tmp_path / 'benchmarks.md'
    with recorded_to(str(markdown), 'python tools/benchmark.py --ok'):
        print('device: CPU, 2 threads')
        print('  ResNet-50  1.0 ms')
    with pytest.raises(RuntimeError, match='capture failed'):
        with contextlib.redirect_stdout(io.StringIO()):
            with recorded_to(str(markdown), 'python tools/benchmark.py --x'):
                print('device: CUDA')
                print('  ScaleNet-50  2.0 ms')
                raise RuntimeError('capture failed\nsecond line')
    first, second = markdown.read_text().split('\n## ')
    assert first.startswith('## ') and 'ResNet-50  1.0 ms' in first
    assert 'stopped by' not in first
    assert '`python tools/benchmark.py --x`' in second
    assert second.rstrip().endswith('  ScaleNet-50  2.0 ms\n\nstopped by '
                                    'RuntimeError: capture failed\n```')
