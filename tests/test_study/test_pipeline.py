# Copyright (c) mmscalenet contributors. All rights reserved.
"""The allocation study end to end, reduced: Fashion-MNIST (the real files,
1 seed, one batch of images, 1 epoch), the digits demo, resuming, and the
parallel workers."""
import json
import shutil

import pytest
from helpers import run_main
from test_fashion_mnist import needs_real_files

from mmscalenet.models import ChannelSpec
from mmscalenet.study import RUN_KINDS

FASHION = 'configs/studies/fashion-mnist-cpu.py'
REDUCED = ('--seeds', '0', '--epochs', '1', '--train-per-class', '12',
           '--test-per-class', '10', '--holdout-per-class', '4',
           '--first-round-only', '--lambdas', '0.02')


def study(*args):
    """The study tool's stdout, run in this process (tests/test_study/
    test_second_round.py runs it in new interpreters, as a user does)."""
    out = run_main('tools/allocation_study.py', *args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def trained_keys(stdout):
    """The runs a call trained (each announces itself with ====)."""
    return [line.split()[1].rstrip(':') for line in stdout.splitlines()
            if line.startswith('==== ')]


@pytest.fixture(scope='module')
def fashion_study(tmp_path_factory):
    work = tmp_path_factory.mktemp('fashion')
    prepared = run_main('tools/prepare_fashion_mnist.py', '--no-download')
    assert prepared.returncode == 0, prepared.stderr
    stdout = study(FASHION, '--work-dir', str(work), *REDUCED)
    return work, stdout


@needs_real_files
@pytest.mark.slow
def test_fashion_mnist_study_reduced(fashion_study):
    work, stdout = fashion_study
    results = json.loads((work / 'results.json').read_text())
    runs = results['runs']
    assert trained_keys(stdout) == [
        'seed0/seed', 'seed0/allocated', 'seed0/even', 'seed0/resnet',
        'seed0/resnet-wide', 'select/lambda=0', 'select/lambda=0.02',
        'seed0/seed-l1', 'seed0/allocated-l1'
    ]
    assert results['protocol']['name'] == 'fashion-mnist-cpu-custom'
    for key, record in runs.items():
        selection = key.startswith('select/')
        # 12 images per class (one batch of 128 or less); a selection run
        # trains on 8 and is evaluated on the other 4 per class, the others
        # on 10 per class of the test split.
        assert record['train_images'] == (80 if selection else 120), key
        assert record['test_images'] == (40 if selection else 100), key
        assert record['epochs'] == 1
        # A top-1 over n images is a whole number of them.
        correct = record['top1'] * record['test_images'] / 100
        assert abs(correct - round(correct)) < 1e-6, (key, record['top1'])
        assert record['params'] > 0
    # The retrained nets use exactly their seed's allocation.
    for source, retrained in (('seed', 'allocated'),
                              ('seed-l1', 'allocated-l1')):
        seed, allocated = runs[f'seed0/{source}'], runs[f'seed0/{retrained}']
        assert allocated['spec']['rows'] == seed['allocation']
        assert allocated['macs'] < seed['macs']
        kept = [[len(k) for k in block] for block in seed['kept']]
        assert kept == [row[:-1] for row in seed['allocation']]
        assert [len(s) for s in seed['gammas'][0]] == [16, 16, 16]
    # The penalised seed trained with the selected strength.
    assert results['selection']['chosen'] == 0.02
    assert runs['seed0/seed-l1']['lambda_l1'] == 0.02
    assert runs['seed0/seed']['lambda_l1'] == 0.0
    # The even net is the even spec; the widened ResNet has its MACs +- 3%.
    even = runs['seed0/even']
    assert ChannelSpec(even['spec']['rows']) == ChannelSpec.even(
        (4, 4, 4), (16, 32, 64), (32, 16, 8), (1, 2, 4))
    wide = runs['seed0/resnet-wide']
    assert wide['spec']['widths'] == [18, 35, 70]
    assert abs(wide['macs'] / even['macs'] - 1) < 0.03
    # The report and the figures.
    for name in RUN_KINDS.values():
        assert f'| {name} |' in stdout, name
    assert 'Chosen: lambda_l1 = 0.02' in stdout
    for figure in ('top1-vs-macs', 'proportions', 'gammas'):
        assert (work / f'fashion-mnist-cpu-custom_{figure}.png').is_file()


@needs_real_files
@pytest.mark.slow
def test_study_resumes_where_it_stopped(fashion_study):
    work, _ = fashion_study
    before = json.loads((work / 'results.json').read_text())
    keys = sorted(before['runs'])
    # Nothing left to do: nothing is trained, nothing changes.
    stdout = study(FASHION, '--work-dir', str(work), *REDUCED)
    assert trained_keys(stdout) == []
    assert json.loads((work / 'results.json').read_text()) == before
    # A run lost (its record and its work dir): only it is trained again.
    del before['runs']['seed0/even']
    (work / 'results.json').write_text(json.dumps(before))
    shutil.rmtree(work / 'seed0' / 'even')
    stdout = study(FASHION, '--work-dir', str(work), *REDUCED)
    assert trained_keys(stdout) == ['seed0/even']
    after = json.loads((work / 'results.json').read_text())
    assert sorted(after['runs']) == keys
    assert list(after['runs'])[-1] == 'seed0/even'


@needs_real_files
@pytest.mark.slow
def test_another_protocol_is_refused_in_one_line(fashion_study, tmp_path):
    work, _ = fashion_study
    results = tmp_path / 'results.json'
    shutil.copy(work / 'results.json', results)
    out = run_main('tools/allocation_study.py', FASHION, '--work-dir',
                   str(work), '--results', str(results), *REDUCED[:-2],
                   '--lambdas', '0.5')
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert out.stderr.strip().startswith(f'error: {results} holds runs of '
                                         f'another protocol (differs in '
                                         f'sparsity)')
