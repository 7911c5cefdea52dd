# Copyright (c) mmscalenet contributors. All rights reserved.
"""The study's second round (even at equal MACs, the long seed, the ranked
L1 strength), a first-round results file taking it, and one study per
results file and work dir at a time (two real processes)."""
import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, run_main, run_python, study_results

from mmscalenet.study import StudyProtocol
from mmscalenet.study.matching import (closest_stage_steps, even_at_macs,
                                       search_even_ratio)
from mmscalenet.study.pipeline import (AllocationStudy, exclusive,
                                       train_in_process)
from mmscalenet.study.protocol import SECOND_ROUND_KINDS, ProtocolError

SECOND_ROUND = """
_base_ = '{repo}/configs/studies/digits.py'
name = 'digits-two-rounds'
train_per_class = 12
test_per_class = 10
epochs = 1
sparsity = dict(lambdas=[0.02], holdout_per_class=4)
second_round = dict(long_seed_epochs=2, lambdas=[0.001, 0.05],
                    match_tolerance=0.02)
"""
EVEN_CFG = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarScaleNet', depth=38, structure='even'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=256))


@pytest.mark.slow
def test_even_at_macs_matches_within_the_tolerance():
    matches = {
        target: even_at_macs(EVEN_CFG, target, 0.01, 32)
        for target in (72_321_536, 76_499_456)
    }
    for matched in matches.values():
        assert abs(matched.relative_error) <= 0.01, matched
        assert all(len(set(row[:-1])) == 1 for row in matched.rows)
    # 76,499,456 is reached only with a stage one channel wider; the first
    # round's even net (72,321,536 MACs) is its own match.
    assert matches[72_321_536].rows[0][:3] == [12, 12, 12]


def test_an_unreachable_target_is_refused():
    rows_at = lambda ratio: [[int(10 * ratio), 8]]  # noqa: E731
    macs_of = lambda rows: 1000 * rows[0][0]  # noqa: E731
    # 10 channels: 10,000 MACs, 11: 11,000; 10,500 is 4.8% from both.
    with pytest.raises(ValueError, match=r'has 10000 \(-4.76%\), '
                       'outside the tolerance of 1%'):
        search_even_ratio(rows_at, macs_of, 10500, 0.01)
    with pytest.raises(ValueError, match='no even allocation with budget '
                       'ratio in'):
        search_even_ratio(rows_at, macs_of, 10**9, 0.01)


def three_stages(ratio):
    return [[int(9 * ratio), int(9 * ratio), 32], [int(23 * ratio), 16],
            [int(40 * ratio), 8]]


def affine_macs(rows):
    (a, b, _), (c, _), (d, _) = rows
    return 500 + 900 * (a + b) + 310 * c + 70 * d


def test_the_search_finds_the_closest_even_spec():
    """Against every spec tried: the ratio's spec closest to the target,
    and of its stage steps the closest."""

    def steps_of(rows):
        for offsets in itertools.product((-1, 0, 1), repeat=3):
            yield [[x + o if x else 0 for x in row[:-1]] + row[-1:]
                   for row, o in zip(rows, offsets)]

    specs = [three_stages(0.25 + 3.75 * i / 20000) for i in range(20001)]
    for target in range(affine_macs(specs[0]), affine_macs(specs[-1]), 997):
        matched = search_even_ratio(three_stages, affine_macs, target, 1.0)
        best = min(specs, key=lambda rows: abs(affine_macs(rows) - target))
        assert abs(matched.macs - target) == \
            abs(affine_macs(best) - target), target
        stepped = closest_stage_steps(matched.rows, affine_macs, target)
        steps = min(steps_of(matched.rows),
                    key=lambda r: abs(affine_macs(r) - target))
        assert abs(affine_macs(stepped) - target) == \
            abs(affine_macs(steps) - target), target


def test_macs_not_affine_in_the_channels_are_refused():
    # A product of two stages' channels (an SA block feeding another): the
    # steps of one stage predict 37,583 for both one channel wider.
    def macs_of(rows):
        return affine_macs(rows) + 37 * rows[0][0] * rows[1][0]

    rows = three_stages(1.0)
    with pytest.raises(ValueError, match=r'not affine.*\[\[10, 10, 32\], '
                       r'\[24, 16\], \[40, 8\]\] has 37620, predicted 37583'):
        closest_stage_steps(rows, macs_of, 37583)


def write_protocol(tmp_path, text=SECOND_ROUND):
    path = tmp_path / 'protocol.py'
    path.write_text(text.format(repo=REPO))
    return str(path)


def test_second_round_needs_its_sections(tmp_path):
    bad = write_protocol(tmp_path, SECOND_ROUND.replace(
        'sparsity = dict(lambdas=[0.02], holdout_per_class=4)', ''))
    with pytest.raises(ProtocolError, match='second_round needs the '
                       'sparsity section'):
        StudyProtocol.fromfile(bad)
    bad = write_protocol(tmp_path, SECOND_ROUND.replace(
        'long_seed_epochs=2', 'long_seed_epochs=0'))
    with pytest.raises(ProtocolError, match='long_seed_epochs must be a '
                       'positive integer, got 0'):
        StudyProtocol.fromfile(bad)


def test_a_first_round_file_takes_the_second_round(tmp_path):
    """The committed first-round results: the protocol with the second
    round added adopts them (no run is lost or retrained), and the plan
    is the first round's runs, then the second's by phase."""
    results = tmp_path / 'results.json'
    committed = study_results()
    first = dict(committed, protocol=dict(committed['protocol']))
    first['protocol'].pop('second_round', None)
    first['protocol'].pop('channel_divisor', None)
    first.pop('selection_ranked', None)
    first['runs'] = {  # the first round's runs only, whatever is trained
        k: r
        for k, r in committed['runs'].items()
        if r['kind'] not in SECOND_ROUND_KINDS
        and not k.startswith('select-ranked/')
    }
    results.write_text(json.dumps(first))
    protocol = StudyProtocol.fromfile(
        f'{REPO}/configs/studies/fashion-mnist-cpu.py')
    study = AllocationStudy(protocol, REPO, str(tmp_path / 'work'),
                            str(results))
    assert study.results['protocol']['second_round']['long_seed_epochs'] \
        == 16
    keys = study.planned_keys()
    assert keys[:21] == [f'seed{s}/{k}' for s in (0, 1, 2)
                         for k in protocol.kinds]
    assert keys[21:27] == [
        'seed0/even-matched', 'seed0/allocated-rerun', 'seed1/even-matched',
        'seed1/allocated-rerun', 'seed2/even-matched', 'seed2/allocated-rerun'
    ]
    assert keys[27:30] == ['seed0/seed-long', 'seed0/allocated-long',
                           'seed0/even-matched-long']
    assert len(keys) == 21 + 3 * 9
    assert all(k in first['runs'] for k in keys[:21])
    # The ranked penalty's selection comes before its first seed.
    assert study.dependencies('seed0/seed-l1-ranked') == [
        'select-ranked/lambda=0.0005', 'select-ranked/lambda=0.001',
        'select-ranked/lambda=0.002', 'select-ranked/lambda=0.004'
    ]
    assert study.dependencies('seed1/even-matched-long') == [
        'seed1/allocated-long'
    ]
    # What parallel workers train, in order: the missing runs as planned,
    # the selection runs just before the first seed that needs them (not
    # ahead of the rest, as they have nothing to wait for).
    missing = [k for k in keys if k not in first['runs']]
    order = study.training_order()
    assert [k for k in order if k.startswith('seed')] == missing
    assert order.index('select-ranked/lambda=0.004') + 1 == order.index(
        'seed0/seed-l1-ranked')
    assert len(order) == len(missing) + 4
    assert order[:2] == ['seed0/even-matched', 'seed0/allocated-rerun']


@pytest.mark.slow
def test_a_worker_reuses_an_even_net_the_seed_already_has(
        tmp_path, monkeypatch):
    """With --workers N, the process of an even net at matched MACs gets
    the seed's even nets, so a net the seed already has is reused, not
    trained again: seed 2's even net at its long seed's net's MACs is the
    one at its plain seed's net's (the committed results)."""
    committed = study_results()
    key = 'seed2/even-matched-long'
    trained = committed['runs'].pop(key)
    results = tmp_path / 'results.json'
    results.write_text(json.dumps(committed))
    protocol = StudyProtocol.fromfile(
        f'{REPO}/configs/studies/fashion-mnist-cpu.py')
    work = str(tmp_path / 'work')
    records = AllocationStudy(protocol, REPO, work,
                              str(results)).records_read_by(key)
    assert {'seed2/allocated-long', 'seed2/even', 'seed2/even-matched'} \
        <= set(records)
    assert all(k.startswith('seed2/') for k in records)

    def no_training(*args, **kwargs):
        raise AssertionError('an even net the seed has was trained again')

    monkeypatch.setattr(AllocationStudy, 'train', no_training)
    record = train_in_process(protocol.to_dict(), REPO, work, key, records,
                              {})
    assert record['key'] == key and record['same_run_as'] == \
        'seed2/even-matched'
    assert record['matched_to'] == 'seed2/allocated-long'
    # Before the fix it was trained again (one machine, one setting): the
    # same net, the same top-1.
    assert record['spec']['rows'] == trained['spec']['rows']
    assert record['top1'] == trained['top1']


# The two workers' threads: the cores shared out where that fits this test
# process's own share (make test on 2 cores: one each, OMP_NUM_THREADS
# removed for the study), else OMP_NUM_THREADS, as the suite set it (many
# cores, many xdist workers: sharing all the cores would oversubscribe them).
SHARED_THREADS = max(1, os.cpu_count() // 2)
SHARES_THE_CORES = SHARED_THREADS <= int(
    os.environ.get('OMP_NUM_THREADS', os.cpu_count()))


@pytest.fixture(scope='module')
def two_round_study(tmp_path_factory):
    """The study with every kind of the second round, reduced (digits, 12
    images per class, 1 epoch; the long seed 2), in two workers: run once,
    read by the tests below."""
    tmp = tmp_path_factory.mktemp('two_rounds')
    protocol = write_protocol(tmp)
    env = (dict(OMP_NUM_THREADS=None, MKL_NUM_THREADS=None)
           if SHARES_THE_CORES else None)
    out = run_python('tools/allocation_study.py', protocol, '--work-dir',
                     str(tmp / 'work'), '--results',
                     str(tmp / 'results.json'), '--workers', '2',
                     env=env, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp, out.stdout


@pytest.mark.slow
def test_workers_start_a_run_once_the_runs_it_needs_are_done(
        two_round_study):
    tmp, stdout = two_round_study
    results = json.loads((tmp / 'results.json').read_text())
    lines = stdout.splitlines()
    for key, needed in (('seed0/allocated', 'seed0/seed'),
                        ('seed0/allocated-long', 'seed0/seed-long'),
                        ('seed0/even-matched', 'seed0/allocated')):
        started = [i for i, line in enumerate(lines)
                   if line.startswith(f'started {key} ')]
        finished = [i for i, line in enumerate(lines)
                    if line.startswith(f'finished {needed}:')]
        assert len(started) == len(finished) == 1, key
        assert started[0] > finished[0], key
    # Each worker on its share of the cores, not all of them.
    if SHARES_THE_CORES:
        threads = SHARED_THREADS
        assert f'2 workers, {threads} thread(s) each' in lines
    else:
        threads = int(os.environ['OMP_NUM_THREADS'])
        assert f'2 workers, threads as OMP_NUM_THREADS={threads} says' in lines
    assert {r['machine']['threads'] for r in results['runs'].values()} == \
        {threads}
    for record in results['runs'].values():
        if not record.get('evaluated_on'):
            images = record['train_images'], record['test_images']
            assert images == (120, 100), record['key']
    # Every model measured at the digits' 16x16 (the seed's reference
    # size), the ResNet-38 too: 15.12 M MACs, not its 60.48 M at 32x32.
    assert results['runs']['seed0/resnet']['macs'] == 15120896
    assert results['runs']['seed0/even']['macs'] == 18248704
    assert (tmp / 'work' / 'seed0' / 'seed' / 'allocated_spec.png').is_file()
    assert '| ScaleNet data-driven (plain seed) |' in stdout


@pytest.mark.slow
def test_second_round_on_digits(two_round_study):
    """Every kind of the second round: what each run trained from."""
    tmp, stdout = two_round_study
    results = json.loads((tmp / 'results.json').read_text())
    runs = results['runs']
    assert runs['seed0/allocated-rerun']['spec'] == \
        runs['seed0/allocated']['spec']
    for kind in ('even-matched', 'allocated-rerun', 'seed-long',
                 'allocated-long',
                 'even-matched-long', 'seed-l1-ranked',
                 'allocated-l1-ranked', 'even-matched-l1-ranked',
                 'even-matched-l1'):
        assert f'seed0/{kind}' in runs, kind
    for kind, source in (('even-matched', 'allocated'),
                         ('even-matched-long', 'allocated-long'),
                         ('even-matched-l1', 'allocated-l1')):
        record = runs[f'seed0/{kind}']
        assert record['matched_to'] == f'seed0/{source}'
        assert abs(record['macs'] / runs[f'seed0/{source}']['macs'] - 1) \
            <= 0.02
    long_seed = runs['seed0/seed-long']
    assert long_seed['epochs'] == 2
    assert [e['epoch'] for e in long_seed['readiness']] == [1, 2]
    assert runs['seed0/allocated-long']['spec']['rows'] == \
        long_seed['allocation']
    assert runs['seed0/allocated-long']['epochs'] == 1
    ranked = results['selection_ranked']
    assert set(ranked['near_zero_share']) == {'0.001', '0.05'}
    assert runs['seed0/seed-l1-ranked']['lambda_l1'] == ranked['chosen']
    for key in ('select-ranked/lambda=0.001', 'select-ranked/lambda=0.05'):
        assert runs[key]['evaluated_on'] == 'held-out training images'
        assert runs[key]['train_images'] == 80
    assert 'data-driven - even at equal MACs (plain seed)' in stdout
    assert "The long seed's ranking, epoch by epoch" in stdout
    assert 'Second round: the ranked L1 strength' in stdout
    assert (tmp / 'digits-two-rounds_readiness.png').is_file()


@pytest.mark.slow
def test_a_second_study_on_the_same_files_stops_in_one_line(tmp_path):
    """Two processes: the second (this one) refuses, naming the first;
    once the first has died (killed, no clean-up), its lock is free
    again."""
    work, results = tmp_path / 'work', tmp_path / 'results.json'
    args = [sys.executable, 'tools/allocation_study.py',
            'configs/studies/digits.py', '--work-dir', str(work),
            '--results', str(results)]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    lock = f'{results}.lock'
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if os.path.exists(lock) and open(lock).read().startswith(
                    f'pid {first.pid} '):
                break
            assert first.poll() is None, 'the first study ended early'
            time.sleep(0.5)
        else:
            pytest.fail('the first study never took its lock')
        second = run_main(*args[1:])
        assert second.returncode != 0 and 'Traceback' not in second.stderr
        line = second.stderr.strip()
        assert line.startswith(f'error: results file {results} is in use by '
                               f'another allocation study (pid {first.pid} '
                               f'on '), line
        assert line.endswith('wait for it to finish or stop it, then run '
                             'again')
        # Another results file in the same work dir is refused too.
        other = run_main(*args[1:-1], str(tmp_path / 'other.json'))
        assert other.returncode != 0
        assert f'error: work dir {work} is in use' in other.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with exclusive(lock, 'results file'):
        pass
    with exclusive(str(work / '.study.lock'), 'work dir'):
        pass


def test_run_configs_are_built_without_a_runner(tmp_path):
    """Each run's config, as the study trains it: the long seed's schedule
    and readiness hook, the penalised seed's L1 hook, an allocated net's
    structure, no validation, the class-balanced subsets, and a work dir
    per key."""
    from mmscalenet.study.run_configs import RunConfigs
    protocol = StudyProtocol.fromfile(write_protocol(tmp_path))
    configs = RunConfigs(protocol, REPO, str(tmp_path / 'work'))
    long_seed = configs.run_config('seed0/seed-long', 'seed-long', 0, None,
                                   None, selection=False)
    assert long_seed.work_dir == str(tmp_path / 'work' / 'seed0' /
                                     'seed-long')
    assert long_seed.train_cfg.max_epochs == 2  # long_seed_epochs
    assert long_seed.param_scheduler.T_max == 2
    assert long_seed.val_dataloader is None and long_seed.val_cfg is None
    assert 'val_interval' not in long_seed.train_cfg
    assert [h['type'] for h in long_seed.custom_hooks] == [
        'SeedReadinessHook', 'NeuronAllocationHook'
    ]
    assert long_seed.randomness.seed == 0
    assert len(long_seed.train_dataloader.dataset.indices) == 120
    assert len(long_seed.test_dataloader.dataset.indices) == 100
    penalised = configs.run_config('seed1/seed-l1', 'seed-l1', 1, None,
                                   0.02, selection=False)
    assert penalised.train_cfg.max_epochs == 1  # the protocol's epochs
    assert penalised.custom_hooks[0] == dict(
        type='GammaSparsityHook', lambda_l1=0.02,
        weighting=protocol.sparsity.weighting)
    selection = configs.run_config('select/lambda=0.02', 'seed-l1', 0, None,
                                   0.02, selection=True)
    assert [h['type'] for h in selection.custom_hooks] == [
        'GammaSparsityHook'
    ]
    # 12 per class: 8 to train on, the other 4 held out to evaluate.
    assert len(selection.train_dataloader.dataset.indices) == 80
    assert len(selection.test_dataloader.dataset.indices) == 40
    assert not set(selection.train_dataloader.dataset.indices) & set(
        selection.test_dataloader.dataset.indices)
    rows = [[4, 4, 4, 32]] * 12
    allocated = configs.run_config('seed0/allocated', 'allocated', 0, rows,
                                   None, selection=False)
    assert allocated.model.backbone.structure == rows
    assert allocated.custom_hooks == []
