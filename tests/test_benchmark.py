# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmscalenet.benchmark in process, at tiny sizes (the timings mean nothing
here and are never asserted): the models are told apart by their tags, the
rows judge what they should, and bad settings are refused in one line.
tools/benchmark.py's every row: tests/test_tools.py (slow)."""
import contextlib
import io
import re
from dataclasses import replace

import pytest
import torch

from mmscalenet.benchmark import Benchmark, BenchmarkSettings
from mmscalenet.benchmark.path_choice import (PathTimes, SAPathChoice, beats,
                                              fastest, load_chosen_paths,
                                              save_choice, source_row)
from mmscalenet.benchmark.models import classifiers, fused, judged
from mmscalenet.benchmark.tables import (print_best_paths, print_rows,
                                         recorded_to)
from mmscalenet.models import execution
from mmscalenet.models.execution import CPU_TUNED, CUDA_STREAMS, PLAIN


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
                  '[50] Best against best, batch 1',
                  '[50] Training step (forward, backward, SGD), batch 2',
                  '[50] Activations saved for backward, batch 2'):
        assert title in text, title
    best = text.split('Best against best')[1].split('\n\n')[0]
    assert len(best.strip().splitlines()) == 3  # title, ResNet, ScaleNet


def test_engines_add_every_deployment_engine_and_best_per_precision():
    from mmscalenet.benchmark.paths import openvino_precisions
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


@pytest.mark.parametrize('settings, message', [
    (dict(channel_multiple=0), '--channel-multiple must be at least 1, '
     'got 0'),
    (dict(sa_paths='fast'), "--sa-paths must be auto, one of ['cpu-tuned', "
     "'cuda-streams', 'plain', 'pooled-projection'] or a .json file written "
     "by --save-sa-paths, got 'fast'"),
    (dict(amp_dtype='bfloat16'), "--amp-dtype must be float16 or bfloat16, "
     "with --amp; got 'bfloat16' without --amp"),
    (dict(amp=True, amp_dtype='float8'), "--amp-dtype must be float16 or "
     "bfloat16, with --amp; got 'float8'"),
    (dict(save_sa_paths='x.json'), '--save-sa-paths saves what '
     '--choose-sa-paths chooses: give both'),
    (dict(choose_sa_paths=True, save_sa_paths='/nowhere/x.json'),
     "--save-sa-paths must name a .json file in a writable folder (for "
     "--sa-paths), got '/nowhere/x.json'"),
    (dict(choose_sa_paths=True, save_sa_paths='x.txt'),
     "--save-sa-paths must name a .json file in a writable folder (for "
     "--sa-paths), got 'x.txt'"),
    (dict(choose_sa_paths=True, sa_paths='plain'), '--choose-sa-paths times '
     "every SA path itself; it takes no --sa-paths, got 'plain'"),
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
    assert ('; AMP (bfloat16), channels-last, cudnn.benchmark, channels '
            'padded to x16, torch.compile max-autotune, inductor layout '
            'forced; SA paths plain;') in levers


def test_a_path_beats_its_reference_only_where_it_pays_in_both_modes():
    ref = PathTimes(eval=1.0, train=1.0)
    assert beats(PathTimes(0.95, 0.97), ref, margin=0.02)
    assert not beats(PathTimes(0.99, 0.99), ref, margin=0.02)  # too little
    # Much faster in eval, slower in training: not a trade it makes (a
    # few percent in one mode is the noise of a median on a busy CPU).
    assert not beats(PathTimes(0.6, 1.06), ref, margin=0.02)
    assert beats(PathTimes(0.6, 1.04), ref, margin=0.02)
    times = {PLAIN: ref, CPU_TUNED: PathTimes(0.9, 0.9),
             CUDA_STREAMS: PathTimes(0.8, 0.95)}
    assert fastest(times, PLAIN, 0.02) == CUDA_STREAMS
    assert fastest({PLAIN: ref, CPU_TUNED: PathTimes(1.1, 0.9)}, PLAIN,
                   0.02) == PLAIN


@pytest.fixture
def no_timing(monkeypatch):
    """SAPathChoice with made-up times (the real ones mean nothing at this
    size): every pooled projection pays in layer2 only, the CPU rewrites
    pay; the outputs are really compared."""

    def time(self, candidates):
        times = {}
        for paths in candidates:
            gain = 0.9 if paths.tiled_pooling else 1.0
            if paths.pooled_projection:
                gain *= 0.9 if paths.pooled_projection == (1, ) else 1.1
            times[paths] = PathTimes(gain, gain)
        return times

    monkeypatch.setattr(SAPathChoice, 'time', time)


def test_the_choice_prints_the_row_to_paste_and_saves_it(no_timing,
                                                         tmp_path):
    choice = SAPathChoice(50, torch.device('cpu'), batch=1, train_batch=2,
                          size=64, amp=False, rounds=1, warmup=0)
    text = printed(choice.run)
    assert re.search(r'1\. whole-net paths \(ratios to plain\):\n'
                     r'\s+plain\s+eval .*\n\s+cpu-tuned\s+eval .* beats it',
                     text)
    assert 'cpu-tuned + pooled_projection (layer2)' in text
    assert '  chosen: cpu-tuned + pooled_projection (layer2)\n' in text
    row = text.split('mmscalenet/models/execution.py:\n')[1].strip()
    pasted = eval(row.rstrip(','), vars(execution))  # noqa: S307
    assert pasted.paths == replace(CPU_TUNED, pooled_projection=(1, ))
    assert (pasted.device_type, pasted.capability, pasted.dtype) == (
        'cpu', None, torch.float32)
    assert pasted.measured.startswith('CPU, ')
    path = str(tmp_path / 'chosen.json')
    several = str(tmp_path / 'several.json')
    save_choice(replace(pasted, paths=replace(
        CUDA_STREAMS, pooled_projection=(0, 2))), several)
    assert load_chosen_paths(several) == replace(CUDA_STREAMS,
                                                 pooled_projection=(0, 2))
    save_choice(pasted, path)
    assert load_chosen_paths(path) == pasted.paths
    # The benchmark forces the saved choice and names it.
    line = Benchmark(BenchmarkSettings(sa_paths=path)).device_line()
    assert f'SA paths cpu-tuned + pooled_projection (layer2) ({path});' \
        in line


def test_a_candidate_whose_outputs_differ_is_not_timed(no_timing,
                                                       monkeypatch):
    real = SAPathChoice.equal_outputs

    def broken_cpu_rewrites(self, paths):
        return 1.0 if paths.tiled_pooling else real(self, paths)

    monkeypatch.setattr(SAPathChoice, 'equal_outputs', broken_cpu_rewrites)
    choice = SAPathChoice(50, torch.device('cpu'), batch=1, train_batch=2,
                          size=64, amp=False, rounds=1, warmup=0)
    text = printed(choice.run)
    assert ('  cpu-tuned: outputs differ from the plain path (relative '
            'error 1.0e+00): not a candidate') in text
    assert '  chosen: pooled-projection' not in text
    assert '  chosen: plain + pooled_projection (layer2)\n' in text


def test_a_saved_choice_that_is_not_one_is_refused(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"paths": {"tiled_pooling": true}}')
    with pytest.raises(ValueError) as error:
        Benchmark(BenchmarkSettings(sa_paths=str(bad)))
    assert str(error.value).startswith(
        f'{bad} holds no SA paths saved by --choose-sa-paths (ValueError: ')
    missing = str(tmp_path / 'missing.json')
    with pytest.raises(ValueError, match='holds no SA paths.*FileNotFound'):
        Benchmark(BenchmarkSettings(sa_paths=missing))


def test_kernel_tables_of_a_forced_path_come_with_the_plain_ones():
    settings = BenchmarkSettings(depths=(50, ), batch=(1, ), size=64,
                                 train_batch=2, rounds=1, warmup=0,
                                 skip_detection=True, kernel_table=True,
                                 sa_paths='cpu-tuned')
    text = printed(Benchmark(settings).run)
    titles = re.findall(r'^Top operators by self CPU time, (.*?) \(one',
                        text, re.M)
    assert titles == [
        'ResNet-50 fused, fused eval forward, batch 1',
        'ScaleNet-50 fused, fused eval forward, batch 1',
        'ScaleNet-50 fused (SA paths plain), fused eval forward, batch 1',
        'ResNet-50, training step, batch 2',
        'ScaleNet-50, training step, batch 2',
        'ScaleNet-50 (SA paths plain), training step, batch 2',
    ]
    # On the plain order the SA blocks concatenate; the CPU rewrites write
    # into one buffer instead.
    eval_tables = text.split('Top operators')[1:4]
    assert 'aten::cat' not in eval_tables[1]
    assert 'aten::cat' in eval_tables[2]


@pytest.mark.parametrize('paths', [
    *execution.NAMED_PATHS.values(),
    replace(CPU_TUNED, pooled_projection=(3, ))
])
def test_a_printed_row_is_the_python_of_its_choice(paths):
    choice = execution.MeasuredChoice('cuda', (9, 0), torch.bfloat16, paths,
                                      "H200, it's measured")
    row = source_row(choice)
    assert eval(row, vars(execution)) == choice  # noqa: S307
    named = [name for name, p in execution.NAMED_PATHS.items() if p == paths]
    assert ('paths=SAPaths(' in row) == (not named)


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
