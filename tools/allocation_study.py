# Copyright (c) mmscalenet contributors. All rights reserved.
"""The paper's pipeline on real data: seed, allocate, retrain, compare.

A study protocol (``configs/studies/*.py``) names the data, the schedule,
the seeds and the models. For every seed this trains the seed ScaleNet (its
``NeuronAllocationHook`` ranks the SA neurons by BN |gamma| and allocates
them within the FLOPs of the ResNet 3x3 convs), retrains the data-driven
allocation from scratch, and trains, with the same schedule and data order,
the even allocation at the same budget, the bottleneck ResNet and, where the
protocol has one, a ResNet widened to the ScaleNets' MACs and a seed trained
with an L1 penalty on its gammas (strength chosen on held-out training
images). Where the protocol has a second round, it then trains, per seed,
the even net at each data-driven net's MACs, a long seed (its ranking
recorded epoch by epoch) and its allocation, and a seed whose L1 strength
keeps the budget's cut inside ranked neurons. Every finished run goes into
the results file at once; a second call skips what is there, so a study can
span sessions. One study trains into a results file and a work dir at a
time: a second process on either stops in one line naming the first. Then
it prints the tables (markdown) and draws the figures.

Protocols:
    configs/studies/digits.py             ``make demo``: scikit-learn's digits,
                                          one seed, about 3 minutes
    configs/studies/fashion-mnist-cpu.py  ``make study``: Fashion-MNIST, 3
                                          seeds, about 4 hours on 2 cores
    configs/studies/fashion-mnist-gpu.py  the full training set, 5 seeds, 12
                                          workers on one GPU (measured: needs
                                          ~17 GPU minutes)

Example:
    python tools/allocation_study.py configs/studies/digits.py \
        --work-dir work_dirs/demo
    python tools/allocation_study.py configs/studies/fashion-mnist-cpu.py
    python tools/allocation_study.py configs/studies/fashion-mnist-cpu.py \
        --report --update-doc docs/study.md
"""
import argparse
import os.path as osp
import sys

import mmscalenet  # noqa: F401
from mmscalenet.datasets.fashion_mnist import (HOW_TO_GET,
                                               FashionMNISTError, is_prepared)
from mmscalenet.study import (AllocationStudy, ProtocolError,
                              StudyLockedError, StudyProtocol, plot_study,
                              read_results, report, update_markdown)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('protocol', help='study protocol config')
    parser.add_argument(
        '--work-dir',
        help='where the runs train (default: work_dirs/<protocol name>)')
    parser.add_argument(
        '--results',
        help='results file (default: the protocol\'s; with any of the '
        'overrides below, <work-dir>/results.json)')
    parser.add_argument(
        '--plots-dir',
        help='where the figures go (default: beside the results file)')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='runs trained at once, each in its own process on its share '
        'of the cores (OMP_NUM_THREADS, where set, decides), as soon as '
        'the runs they need are done (the GPU protocol uses 8)')
    parser.add_argument(
        '--report',
        action='store_true',
        help='print the tables and draw the figures of the results file '
        'without training')
    parser.add_argument(
        '--update-doc',
        '--update-readme',
        dest='update_doc',
        nargs='+',
        metavar='MARKDOWN',
        help='also write into each MARKDOWN file the sections it marks: '
        'all the tables between the lines <!-- study-report:begin --> and '
        '<!-- study-report:end --> (docs/study.md), the equal-MACs tables '
        '(data-driven - even) between <!-- study-answer:begin --> and '
        '<!-- study-answer:end --> (both in docs/study.md)')
    overrides = parser.add_argument_group(
        'overrides (smoke runs; they make a protocol of their own)')
    overrides.add_argument(
        '--seeds', type=int, nargs='+', help='the seeds to train')
    overrides.add_argument('--epochs', type=int, help='epochs of every run')
    overrides.add_argument(
        '--train-per-class',
        type=int,
        help='class-balanced training subset, images per class')
    overrides.add_argument(
        '--test-per-class',
        type=int,
        help='class-balanced test subset, images per class (smoke runs '
        'only: the protocols evaluate the whole test set)')
    overrides.add_argument(
        '--lambdas',
        type=float,
        nargs='+',
        help='the L1 strengths the selection tries')
    overrides.add_argument(
        '--first-round-only',
        action='store_true',
        help='leave out the protocol\'s second round')
    overrides.add_argument(
        '--long-seed-epochs',
        type=int,
        help='epochs of the second round\'s long seed')
    overrides.add_argument(
        '--ranked-lambdas',
        type=float,
        nargs='+',
        help='the L1 strengths the second round\'s selection tries')
    overrides.add_argument(
        '--channel-divisor',
        type=int,
        help='allocations keep every scale a multiple of this (8: GPU '
        'tensor cores)')
    overrides.add_argument(
        '--holdout-per-class',
        type=int,
        help='held-out training images per class for the selection')
    return parser.parse_args()


def load_protocol(args) -> tuple:
    """The protocol with the command line's overrides, and whether there
    were any (an overridden protocol is named ``<name>-custom`` and keeps
    its results apart)."""
    protocol = StudyProtocol.fromfile(args.protocol)
    changed = False
    for name in ('seeds', 'epochs', 'train_per_class', 'test_per_class',
                 'channel_divisor'):
        value = getattr(args, name)
        if value is not None:
            setattr(protocol, name, value)
            changed = True
    for name in ('lambdas', 'holdout_per_class'):
        value = getattr(args, name)
        if value is not None and protocol.sparsity is not None:
            setattr(protocol.sparsity, name, value)
            changed = True
    if args.first_round_only and protocol.second_round is not None:
        protocol.second_round = None
        changed = True
    for arg, name in (('long_seed_epochs', 'long_seed_epochs'),
                      ('ranked_lambdas', 'lambdas')):
        value = getattr(args, arg)
        if value is not None and protocol.second_round is not None:
            setattr(protocol.second_round, name, value)
            changed = True
    if changed:
        protocol.name += '-custom'
    protocol.validate(args.protocol)
    return protocol, changed


def main():
    args = parse_args()
    protocol, changed = load_protocol(args)
    work_dir = args.work_dir or osp.join('work_dirs', protocol.name)
    if args.results:
        results_path = args.results
    elif changed:
        results_path = osp.join(work_dir, 'results.json')
    else:
        results_path = osp.join(REPO, protocol.results)
    if args.report:
        if not osp.isfile(results_path):
            raise FileNotFoundError(f'no results file {results_path}: run '
                                    f'the study first')
        results = read_results(results_path)
    else:
        if protocol.dataset == 'fashion-mnist':
            root = osp.join(REPO, protocol.data_root)
            if not is_prepared(root):
                raise FashionMNISTError(
                    f'Fashion-MNIST is not prepared in {root}: run `python '
                    f'tools/prepare_fashion_mnist.py` (Debian package) or '
                    + HOW_TO_GET)
        study = AllocationStudy(protocol, REPO, work_dir, results_path)
        if args.workers < 1:
            raise ValueError(f'--workers must be at least 1, got '
                             f'{args.workers}')
        results = study.run(args.workers)
        print(f'\nSeed nets\' work dirs (allocated spec, retrain config, '
              f'allocation plot): {study.work_dir}/seed*/seed*')
    print(f'\nResults: {results_path}\n')
    tables = report(results)
    print(tables)
    if args.update_doc:
        update_markdown(args.update_doc, results)
        for path in args.update_doc:
            print(f'Updated {path}')
    plots = plot_study(results, args.plots_dir or osp.dirname(
        osp.abspath(results_path)), protocol.name)
    print('Figures: ' + ', '.join(plots.values()))


if __name__ == '__main__':
    try:
        main()
    except (ProtocolError, FashionMNISTError, FileNotFoundError,
            StudyLockedError, ValueError) as e:
        sys.exit(f'error: {e}')
