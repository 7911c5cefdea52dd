# Copyright (c) mmscalenet contributors. All rights reserved.
"""Speed and memory of ScaleNet against ResNet, measured side by side.

For each depth (50, 101) it builds, in one process, mmpretrain's ResNet and
mmscalenet's ScaleNet (the authors' structure), each with a global pooling +
fc head, plus the authors' layer sequence
(``mmscalenet/analysis/official_scalenet.py``,
the baseline the SA block must not fall behind), and Faster R-CNN FPN
detectors on both backbones. Timings run in interleaved rounds (every round
runs every model once, in alternating order, so drifts of the machine hit
all alike) and report medians. Rows:

- eval forward, batch 16, 224x224: plain eval, and both fused (mmcv's
  ``fuse_conv_bn`` for ResNet, ``ScaleNet.switch_to_deploy()``);
- training step (forward, backward, SGD step), batch 16;
- memory of a training step: the bytes of activations autograd keeps for
  the backward pass (exact, device independent), and the CUDA peak on GPUs;
- the backbones alone (the authors' sequence too) and Faster R-CNN FPN,
  one 800x1216 image, eval;
- with ``--profile``: torch.profiler tables, and the time and MACs of
  every stage;
- with ``--kernel-table``: the top kernels by GPU time (operators by self
  CPU time on a CPU) of ResNet and ScaleNet, eval and training step, with
  an "other" row, so the rows account for every millisecond;
- the GPU levers, each a flag to measure on and off: ``--cudnn-benchmark``,
  ``--channels-last``, ``--compile`` (``--compile-mode``), CUDA graphs of the
  eval forward (default on CUDA) and of the whole training step
  (``--cuda-graph-train``), ``--sa-rewrites`` (the SA block's exact
  rewrites, :mod:`mmscalenet.rewrites`),
  ``--inductor-force-layout``, and
  ``--channel-multiple`` (rows of ScaleNet padded to GPU-shaped channels:
  the padded build for training, ``switch_to_deploy(channel_multiple=)``
  for the fused rows; each row names its MACs).

With ``--choose-sa-rewrites`` it measures instead which SA rewrites pay on
this device (run it in the device's fastest layout: ``--channels-last`` on
CPUs), and prints the row of ``mmscalenet/rewrites/choice.py``'s
``MEASURED_CHOICES`` that says so.

Each row prints the ratio ScaleNet / ResNet and the project's target for it
(``mmscalenet.benchmark.TARGETS``). The models, the measuring, the rows and
the tables live in :mod:`mmscalenet.benchmark`; this script reads the flags.
Never used as a timed test.

Example:
    python tools/benchmark.py                        # CPU, depths 50 and 101
    python tools/benchmark.py --depths 50 --rounds 7 --device cuda --amp
    python tools/benchmark.py --device cuda --append-to docs/benchmarks.md
    python tools/benchmark.py --choose-sa-rewrites --channels-last --batch 16
    python tools/benchmark.py --engines --skip-train --skip-detection
"""
import argparse
import sys

from mmscalenet.benchmark import Benchmark, BenchmarkSettings, recorded_to
from mmscalenet.rewrites import NAMED_REWRITES


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depths', type=int, nargs='+', default=[50, 101])
    parser.add_argument(
        '--batch',
        type=int,
        nargs='+',
        default=[16, 1],
        help='batch sizes of the eval rows (each with its best-engine row)')
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument(
        '--det-batch',
        type=int,
        default=2,
        help='images of the backbone training rows at --det-size (the '
        'Faster R-CNN configs\' per-GPU batch)')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument(
        '--det-size',
        type=int,
        nargs=2,
        default=[800, 1216],
        metavar=('H', 'W'),
        help='image size of the backbone and detector rows')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast (by default fp16 on CUDA, bf16 on CPUs)')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        help='with --amp: the dtype autocast runs in')
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument(
        '--skip-eval', action='store_true', help='no eval forward rows')
    parser.add_argument(
        '--tf32',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='fp32 convs and matmuls on TF32 tensor cores (--tf32) or not '
        '(--no-tf32); by default torch\'s choice (convs on, matmuls off)')
    parser.add_argument('--skip-detection', action='store_true')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='classifiers and their inputs in channels-last layout')
    parser.add_argument(
        '--onnx',
        action='store_true',
        help='also time the fused models exported to ONNX in onnxruntime')
    parser.add_argument(
        '--engines',
        action='store_true',
        help='also time the fused models in every CPU engine a deployment '
        'uses: eager channels-last, ONNX Runtime, OpenVINO in f32 and (where '
        'the CPU has it) bf16; the best rows then compare each net at its '
        'fastest, per precision class')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the fused models under torch.compile')
    parser.add_argument(
        '--compile-mode',
        default='default',
        choices=['default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs'],
        help='torch.compile mode of --compile (reduce-overhead: with CUDA '
        'graphs on GPUs)')
    parser.add_argument(
        '--compile-freezing',
        action='store_true',
        help='also time the fused models under torch.compile with '
        'inductor\'s freezing (weights folded and prepacked)')
    parser.add_argument(
        '--inductor-force-layout',
        action='store_true',
        help='torch._inductor.config.force_layout_optimization (the '
        'channels-last layout inductor declines for training where a kxk '
        'conv shrinks the channels 2x, as ScaleNet\'s branch convs do)')
    parser.add_argument(
        '--jit',
        action='store_true',
        help='also time the fused models as frozen TorchScript '
        '(torch.jit.freeze + optimize_for_inference)')
    parser.add_argument(
        '--no-cuda-graphs',
        dest='cuda_graphs',
        action='store_false',
        help='on CUDA, skip the rows of the fused models replayed as CUDA '
        'graphs')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='print torch.profiler tables of the fused eval forwards and '
        'of a training step, and the time and MACs of every stage')
    parser.add_argument(
        '--kernel-table',
        action='store_true',
        help='print the top kernels by GPU time (operators by self CPU time '
        'on a CPU) of each model, fused eval forward and training step')
    parser.add_argument(
        '--cudnn-benchmark',
        action='store_true',
        help='torch.backends.cudnn.benchmark = True (cuDNN times its '
        'algorithms per shape and keeps the fastest)')
    parser.add_argument(
        '--cuda-graph-train',
        action='store_true',
        help='on CUDA, also time the whole fp32 training step replayed as '
        'a CUDA graph')
    parser.add_argument(
        '--sa-rewrites',
        default='auto',
        metavar='{auto,' + ','.join(NAMED_REWRITES) + ',FILE.json}',
        help='the SA block\'s exact rewrites on every ScaleNet: those '
        'measured to pay on this device and dtype (auto), a named set '
        '(plain: the authors\' order), or the choice --save-sa-rewrites '
        'wrote (mmscalenet/rewrites/choice.py)')
    parser.add_argument(
        '--choose-sa-rewrites',
        action='store_true',
        help='instead of the rows: time ScaleNet (the first of --depths) '
        'under every rewrite that runs on this device (eval at the first '
        '--batch, training step at --train-batch) and print the row of '
        'MEASURED_CHOICES in mmscalenet/rewrites/choice.py it chooses')
    parser.add_argument(
        '--save-sa-rewrites',
        metavar='FILE.json',
        help='with --choose-sa-rewrites: also write the choice to this file '
        '(for a later --sa-rewrites FILE.json)')
    parser.add_argument(
        '--channel-multiple',
        type=int,
        default=1,
        help='also time ScaleNet with every scale padded to a multiple of '
        'this (8: tensor cores): built padded, and deployed zero-padded')
    parser.add_argument(
        '--append-to',
        metavar='MARKDOWN',
        help='also append the output, with the command, to this markdown '
        'file (e.g. docs/benchmarks.md)')
    return parser.parse_args()


def main():
    args = parse_args()
    markdown = args.append_to
    del args.append_to
    try:
        benchmark = Benchmark(BenchmarkSettings(**vars(args)))
    except ValueError as e:
        sys.exit(f'error: {e}')
    command = ' '.join(['python', 'tools/benchmark.py'] + sys.argv[1:])
    with recorded_to(markdown, command):
        benchmark.run()


if __name__ == '__main__':
    main()
