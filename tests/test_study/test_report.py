# Copyright (c) mmscalenet contributors. All rights reserved.
"""The study's tables on a hand-made results file with known means and
differences, the lambda selection rule, and the tool's --report."""
import json

import pytest
from helpers import assert_one_line_error, run_main

from mmscalenet.allocation import diagnose_allocation, moved_share
from mmscalenet.study import (equal_macs_summary, report, select_lambda,
                              update_markdown)
from mmscalenet.study.even_tables import (even_spread_table,
                                          nearby_even_table)
from mmscalenet.study.seed_tables import stage_of_blocks
from mmscalenet.study.stats import T_975, mean_interval, pooled_std

EVEN_ROWS = [[2, 2, 2, 8], [2, 2, 2, 8], [4, 4, 4, 4]]
TOP1 = {  # kind: top-1 of seeds 0, 1, 2
    'seed': [91.0, 92.0, 93.0],
    'allocated': [90.0, 91.0, 92.0],
    'even': [89.0, 91.0, 90.0],
    'resnet': [88.0, 88.5, 89.0],
    'resnet-wide': [90.5, 90.0, 91.5],
    'seed-l1': [90.0, 91.0, 92.5],
    'allocated-l1': [91.0, 90.0, 93.0],
}
MACS = {'seed': 30e6, 'resnet': 15e6, 'resnet-wide': 18e6}


def seed_extras(seed):
    # Block 0 keeps 3/1/2 of 4 channels per scale, block 1 2/2/2, block 2
    # 6/4/2. Gammas: the net's largest is 2.0; 0.01 is below 1% of it.
    gammas = [[[2.0, 1.0, 0.5, 0.01], [1.0, 0.0, 0.3, 0.2],
               [0.5, 0.5, 0.005, 0.4]],
              [[1.0] * 4, [1.0] * 4, [1.0] * 4],
              [[1.0] * 8, [0.5] * 8, [0.001] * 8]]
    kept = [[[0, 1, 3], [1], [0, 2]],
            [[0, 1], [0, 1], [0, 1]],
            [list(range(6)), list(range(4)), [0, 1]]]
    allocation = [[3, 1, 2, 8], [2, 2, 2, 8], [6, 4, 2, 4]]
    return dict(gammas=gammas, kept=kept, allocation=allocation)


def hand_made_results():
    runs = {}
    for kind, values in TOP1.items():
        for seed, top1 in enumerate(values):
            record = dict(
                key=f'seed{seed}/{kind}', kind=kind, seed=seed, top1=top1,
                macs=MACS.get(kind, 20e6), params=1e6, minutes=2.0,
                spec=dict(type='CifarScaleNet', rows=EVEN_ROWS))
            if kind.startswith('seed'):
                record.update(seed_extras(seed))
            runs[record['key']] = record
    runs['select/lambda=0'] = dict(
        key='select/lambda=0', kind='seed-l1', seed=0, top1=80.0, macs=1,
        params=1, minutes=1, evaluated_on='held-out training images')
    return dict(
        protocol=dict(name='hand-made', seeds=[0, 1, 2],
                      kinds=list(TOP1)),
        runs=runs,
        selection=dict(holdout_top1={'0': 80.0, '0.001': 79.5},
                       chosen=0.001, rule='the rule'))


def row_of(text, start):
    rows = [line for line in text.splitlines() if line.startswith(start)]
    assert len(rows) == 1, (start, text)
    return rows[0]


def test_model_table_means_std_and_each_seed():
    text = report(hand_made_results())
    assert text.startswith('Study hand-made: 21 of 21 runs finished.')
    assert row_of(text, '| ScaleNet data-driven (plain seed) |') == (
        '| ScaleNet data-driven (plain seed) | 91.00 +- 1.00 (n=3) | 90.00 '
        '| 91.00 | 92.00 | 20.00 +- 0.00 | 1.000 +- 0.000 | 2.0 |')
    assert row_of(text, '| ResNet (bottleneck) |').startswith(
        '| ResNet (bottleneck) | 88.50 +- 0.50 (n=3) | 88.00 | 88.50 | '
        '89.00 | 15.00 +- 0.00 |')


def test_paired_differences():
    text = report(hand_made_results())
    # allocated - even: +1, 0, +2 -> mean 1, sample std 1.
    assert row_of(text, '| data-driven - even (plain seed) |') == (
        '| data-driven - even (plain seed) | +1.00 | +0.00 | +2.00 | '
        '1.00 +- 1.00 (n=3) | -1.48 to +3.48 | 1.000 |')
    # allocated-l1 - allocated: +1, -1, +1 -> mean 1/3.
    assert row_of(text, '| L1 seed - plain seed (data-driven nets) |') == (
        '| L1 seed - plain seed (data-driven nets) | +1.00 | -1.00 | +1.00 '
        '| 0.33 +- 1.15 (n=3) | -2.54 to +3.20 | 1.000 |')
    # allocated - widened resnet: -0.5, +1, +0.5; MACs 20 / 18.
    assert row_of(text, '| ScaleNet data-driven - widened ResNet |') == (
        '| ScaleNet data-driven - widened ResNet | -0.50 | +1.00 | +0.50 | '
        '0.33 +- 0.76 (n=3) | -1.56 to +2.23 | 1.111 |')


def test_interval_of_the_mean_is_students_t():
    stats = pytest.importorskip('scipy.stats')
    for df, quantile in enumerate(T_975, start=1):
        assert quantile == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)
    diffs = [0.4, -0.2, 1.1, 0.3, 0.9]
    low, high = stats.t.interval(0.95, len(diffs) - 1,
                                 loc=stats.tmean(diffs),
                                 scale=stats.sem(diffs))
    assert mean_interval(diffs) == pytest.approx((low, high), abs=1e-3)
    assert mean_interval([0.7]) is None
    # Pooled: (1 + 1 + 1 + 1 + 4) / (1 + 2) for groups of means 2 and 3.
    std, dof = pooled_std([[1.0, 3.0], [2.0, 2.0, 5.0]])
    assert dof == 3 and std == pytest.approx((8 / 3)**0.5)


def add_runs_of_this_machine(results, top1_by_kind):
    """Second-round records (seeds 0, 1, ... in order) that name a machine,
    as the study's records do since the second round."""
    here = dict(cpu='AMD EPYC', cpu_capability='AVX2', threads=1)
    for kind, values in top1_by_kind.items():
        for seed, top1 in enumerate(values):
            results['runs'][f'seed{seed}/{kind}'] = dict(
                key=f'seed{seed}/{kind}', kind=kind, seed=seed, top1=top1,
                macs=20e6, params=1e6, minutes=2.0, machine=here,
                spec=dict(type='CifarScaleNet', rows=EVEN_ROWS))


def test_second_round_pairs_compare_runs_of_one_machine():
    """The long seed's data-driven net is compared with the plain seed's
    trained again beside it, not with the first round's (another
    machine), and a pair across machines is marked."""
    results = hand_made_results()
    add_runs_of_this_machine(results, {
        'allocated-rerun': [90.5, 91.5, 92.0],
        'allocated-long': [91.0, 91.0, 93.0]
    })
    text = report(results)
    assert row_of(text, '| long seed - plain seed (data-driven nets').split(
        ' | ')[1:4] == ['+0.50', '-0.50', '+1.00']
    assert row_of(text, '| the same net trained again - first round').split(
        ' | ')[1:4] == ['+0.50 (m)', '+0.50 (m)', '+0.00 (m)']


def test_equal_macs_summary_holds_the_equal_macs_pairs_only():
    """The README's answer: data-driven - even at equal MACs per seed net,
    with the interval's note, and the machine note only where a pair
    crosses machines."""
    results = hand_made_results()
    add_runs_of_this_machine(results, {
        'allocated-long': [91.0, 91.0, 93.0],
        'even-matched-long': [90.0, 91.5, 92.0]
    })
    text = equal_macs_summary(results)
    assert row_of(text, '| data-driven - even at equal MACs (long seed)'
                  ).split(' | ')[1:4] == ['+1.00', '-0.50', '+1.00']
    assert text.count('\n| data-driven') == 1  # the first round's pairs
    assert 'Student\'s t' in text and '(m)' not in text  # are not in it
    # The first round's L1 net against an even net trained elsewhere.
    add_runs_of_this_machine(results, {'even-matched-l1': [90.0]})
    text = equal_macs_summary(results)
    assert row_of(text, '| data-driven - even at equal MACs (L1 seed)'
                  ).split(' | ')[1:3] == ['+1.00 (m)', '-']
    assert 'not across kinds.\n' in text


def test_one_seeds_even_nets_give_the_noise_floor():
    """The even nets of one seed and machine, once per structure (a reused
    net is one run), their pooled spread, and each data-driven net against
    the mean of those near its MACs."""
    results = hand_made_results()  # one first-round even net per seed
    add_runs_of_this_machine(results, {
        'even-matched': [81.0],
        'even-matched-long': [83.0],
        'even-matched-l1-ranked': [81.0],  # even-matched's net, reused
        'even-matched-l1': [70.0],  # far from the data-driven net's MACs
        'allocated-long': [83.5]
    })
    runs = results['runs']
    runs['seed0/even-matched-long']['spec'] = dict(rows=[[3, 3, 3, 8]])
    runs['seed0/even-matched-l1']['spec'] = dict(rows=[[4, 4, 4, 8]])
    runs['seed0/even-matched-long']['macs'] = 20.2e6
    runs['seed0/even-matched-l1']['macs'] = 30e6
    spread = even_spread_table(results)
    assert spread[2] == ('| 0 | 20.00: 81.00, 20.20: 83.00, 30.00: 70.00 '
                         '| 13.00 | 7.00 |')
    assert len(spread) == 5  # the first round's even nets: one per seed
    assert 'std of an even net\'s top-1: 7.00 points (degrees of ' \
        'freedom: 2)' in spread[4]
    nearby = nearby_even_table(results)
    assert row_of('\n'.join(nearby), '| ScaleNet data-driven (long seed)'
                  ).split(' | ')[1:4] == ['+1.50 (2)', '-', '-']
    assert 'interval of about +-' in equal_macs_summary(results)
    assert '### Data-driven minus the mean' in report(results)


def test_ranked_selection_table_reads_each_strengths_seed():
    """One row per L1 strength of the ranked selection, from its selection
    run's record: near 0 (the rule's measure), tied, moved, held-out top-1.
    """
    results = hand_made_results()
    for lam, tied, moved, top1 in ((0.0005, 1.0, 0.048, 78.8),
                                   (0.004, 0.9394, 0.0516, 79.35)):
        results['runs'][f'select-ranked/lambda={lam:g}'] = dict(
            key=f'select-ranked/lambda={lam:g}', kind='seed-l1-ranked',
            seed=0, top1=top1, macs=1, params=1, minutes=1, lambda_l1=lam,
            evaluated_on='held-out training images', tied_share=tied,
            moved_from_even=moved, near_zero_share=0.0)
    results['selection_ranked'] = dict(
        near_zero_share={'0.0005': 0.0, '0.004': 0.0},
        holdout_top1={'0.0005': 78.8, '0.004': 79.35}, chosen=0.004,
        rule='the ranked rule')
    text = report(results)
    assert row_of(text, '| 0.0005 |') == '| 0.0005 | 0% | 100% | 4.8% | ' \
        '78.80% |'
    assert row_of(text, '| 0.004 |') == '| 0.004 | 0% | 94% | 5.2% | 79.35% |'
    assert 'Chosen: lambda_l1 = 0.004 (rule: the ranked rule).' in text
    # Selection runs are not study runs: the model table leaves them out.
    assert 'Study hand-made: 21 of 21 runs finished' in text


def test_a_missing_seed_is_left_out_of_its_pairs():
    results = hand_made_results()
    del results['runs']['seed2/even']
    text = report(results)
    assert text.startswith('Study hand-made: 20 of 21 runs finished.')
    assert row_of(text, '| data-driven - even (plain seed) |') == (
        '| data-driven - even (plain seed) | +1.00 | +0.00 | - | '
        '0.50 +- 0.71 (n=2) | -5.85 to +6.85 | 1.000 |')


def test_allocation_measures():
    extras = seed_extras(0)
    # Block 0: (1/2, 1/6, 1/3) vs thirds: moved 1/6; block 1: 0; block 2:
    # (1/2, 1/3, 1/6) vs thirds: 1/6. Mean 1/9.
    assert moved_share(extras['allocation'], EVEN_ROWS) == pytest.approx(
        1 / 9)
    # Kept near zero (< 0.02): block 0: index 3 of scale 0 (0.01), index 1
    # of scale 1 (0.0), index 2 of scale 2 (0.005); block 2: both kept of
    # scale 2 (0.001). 5 of 24 kept. Tied with the cut (within 5% of the
    # best dropped |gamma|, 1.0 in every block): all kept but block 0's
    # 2.0, 23.
    d = diagnose_allocation(extras['gammas'], extras['kept'],
                            extras['allocation'], EVEN_ROWS)
    assert (d.near_zero, d.tied, d.kept) == (5, 23, 24)
    assert d.moved_from_even == pytest.approx(1 / 9)
    assert stage_of_blocks(extras['allocation']) == [0, 0, 1]
    text = report(hand_made_results())
    assert row_of(text, '| ScaleNet seed (C at every scale) | 0 |') == (
        '| ScaleNet seed (C at every scale) | 0 | 11.1% | 5 of 24 | '
        '23 (96%) | 0.42/0.25/0.33; 0.50/0.33/0.17 |')


def test_gamma_table():
    text = report(hand_made_results())
    # Stage 2 (block 2), scale 3: eight 0.001 per seed: all near zero.
    assert row_of(text, '| ScaleNet seed (C at every scale) | 2 | 3 |') == (
        '| ScaleNet seed (C at every scale) | 2 | 3 | 0.0010 | 0.0000 | '
        '100.0% |')


def test_select_lambda():
    assert select_lambda({0.0: 90.0, 1e-4: 90.2, 1e-3: 89.5, 1e-2: 85.0},
                         tolerance=1.0) == 1e-3
    assert select_lambda({0.0: 90.0, 1e-4: 88.0, 1e-3: 80.0},
                         tolerance=1.0) == 1e-4
    text = report(hand_made_results())
    assert 'Chosen: lambda_l1 = 0.001 (rule: the rule).' in text


def test_tool_reports_and_draws_without_training(tmp_path):
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(hand_made_results()))
    plots = tmp_path / 'figures' / 'new'  # made by the tool
    out = run_main('tools/allocation_study.py',
                   'configs/studies/digits.py', '--results', str(path),
                   '--report', '--plots-dir', str(plots))
    assert out.returncode == 0, out.stderr[-3000:]
    assert '| data-driven - even (plain seed) | +1.00 |' in out.stdout
    for figure in ('top1-vs-macs', 'proportions', 'gammas'):
        png = plots / f'digits_{figure}.png'
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', figure


def test_update_markdown_writes_the_marked_sections(tmp_path):
    """In process: each page gets the sections it marks, headings one level
    down, the text around them kept."""
    results = hand_made_results()
    page, answer = tmp_path / 'study.md', tmp_path / 'answer.md'
    page.write_text('# x\n<!-- study-report:begin -->\nold\n'
                    '<!-- study-report:end -->\nafter\n')
    answer.write_text('# r\n<!-- study-answer:begin -->\nold\n'
                      '<!-- study-answer:end -->\nafter\n')
    update_markdown([str(page), str(answer)], results)
    text = page.read_text()
    assert text == ('# x\n<!-- study-report:begin -->\n' + report(
        results).replace('\n### ', '\n#### ').strip() +
                    '\n<!-- study-report:end -->\nafter\n')
    assert text.startswith('# x\n<!-- study-report:begin -->\nStudy '
                           'hand-made: 21 of 21 runs finished.')
    assert '\n#### Paired differences' in text and 'old' not in text
    # The answer's section holds the equal-MACs tables (the hand-made
    # results have no equal-MACs runs: the one against the seed's even nets
    # near its MACs, from the first round), no more.
    text = answer.read_text()
    assert text == ('# r\n<!-- study-answer:begin -->\n' +
                    equal_macs_summary(results).strip() +
                    '\n<!-- study-answer:end -->\nafter\n')
    assert text.startswith('# r\n<!-- study-answer:begin -->\n'
                           '| difference (top-1 points) | seed 0 |')
    assert 'Top-1 on the test set' not in text
    assert '| ScaleNet data-driven (plain seed) - its even nets | +1.00 (1)' \
        in text


@pytest.mark.parametrize('broken,message', [
    ('no markers\n', 'needs one <!-- study-report:begin --> line and one '
     '<!-- study-report:end --> line (or the same for study-answer) to '
     'write the tables between'),
    ('<!-- study-answer:begin -->\nx\n', 'needs one <!-- study-answer:begin '
     '--> line and one <!-- study-answer:end --> line after it, found 1 '
     'and 0'),
    ('<!-- study-report:end -->\n<!-- study-report:begin -->\n',
     'needs one <!-- study-report:begin --> line and one <!-- '
     'study-report:end --> line after it, found 1 and 1'),
])
def test_update_markdown_writes_nothing_if_a_page_is_broken(
        tmp_path, broken, message):
    """A page without markers, or with broken ones: nothing is written,
    not even to the good page named before it."""
    page, bad = tmp_path / 'study.md', tmp_path / 'bad.md'
    good = '# x\n<!-- study-report:begin -->\nold\n<!-- study-report:end -->\n'
    page.write_text(good)
    bad.write_text(broken)
    with pytest.raises(ValueError) as error:
        update_markdown([str(page), str(bad)], hand_made_results())
    assert str(error.value) == f'{bad} {message}'
    assert page.read_text() == good and bad.read_text() == broken


@pytest.mark.slow
def test_tool_updates_the_page_and_refuses_a_broken_one(tmp_path):
    """The command line: --update-doc (and its old name --update-readme)
    writes a page; a broken page ends in one line, nothing written."""
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(hand_made_results()))
    page, bad = tmp_path / 'study.md', tmp_path / 'bad.md'
    page.write_text('<!-- study-report:begin -->\n<!-- study-report:end -->\n')
    bad.write_text('no markers\n')
    out = run_main('tools/allocation_study.py',
                   'configs/studies/digits.py', '--results', str(path),
                   '--report', '--update-readme', str(page), str(bad))
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(
        f'error: {bad} needs one <!-- study-')
    assert page.read_text().count('Study hand-made') == 0
    bad.unlink()
    out = run_main('tools/allocation_study.py',
                   'configs/studies/digits.py', '--results', str(path),
                   '--report', '--update-doc', str(page))
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'Updated {page}' in out.stdout
    assert page.read_text().count('Study hand-made') == 1


@pytest.mark.slow
def test_tool_errors_are_one_line(tmp_path):
    out = run_main('tools/allocation_study.py', 'configs/studies/nope.py')
    assert_one_line_error(out, 'protocol not found',
                          'configs/studies/nope.py')
    bad = tmp_path / 'bad.py'
    bad.write_text("name = 'x'\ndataset = 'mnist'\nresults = 'r.json'\n"
                   "seeds = [0]\nmodels = dict(seed='a', even='b', "
                   "resnet='c')\n")
    out = run_main('tools/allocation_study.py', str(bad))
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert "dataset must be one of ('digits', 'fashion-mnist'), got " \
        "'mnist'" in out.stderr
