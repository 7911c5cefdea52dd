# Copyright (c) mmscalenet contributors. All rights reserved.
"""Why the same run gives other numbers on another machine: one training
run repeated on this machine under the settings that differ between
machines (thread count, the CPU kernels torch and oneDNN pick).

Each setting trains the same config from the same seed in a fresh process
(``tools/train.py``) and reports the final top-1 and a checksum of the
trained weights. Two runs of the baseline show whether this machine repeats
itself; the others show whether a change of threads or of instruction set
alone changes the result, as another machine's CPU would.

Example:
    python tools/dev/machine_variation.py
    python tools/dev/machine_variation.py --config CONFIG --epochs 4
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: (name, environment) of each run; the baseline comes first and twice.
SETTINGS = (
    ('baseline: 2 threads', dict(OMP_NUM_THREADS='2')),
    ('baseline again', dict(OMP_NUM_THREADS='2')),
    ('1 thread', dict(OMP_NUM_THREADS='1')),
    ('ATen kernels without AVX2 (ATEN_CPU_CAPABILITY=default)',
     dict(OMP_NUM_THREADS='2', ATEN_CPU_CAPABILITY='default')),
    ('oneDNN limited to SSE4.1 (ONEDNN_MAX_CPU_ISA=SSE41)',
     dict(OMP_NUM_THREADS='2', ONEDNN_MAX_CPU_ISA='SSE41')),
)


def weights_digest(checkpoint: str) -> str:
    """sha256 of the trained weights (tensors in key order)."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    digest = hashlib.sha256()
    for key, value in sorted(state['state_dict'].items()):
        digest.update(key.encode())
        digest.update(value.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def last_top1(work_dir: str) -> float:
    """The last validation top-1 the run logged."""
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    top1 = None
    with open(sorted(scalars)[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'accuracy/top1' in record:
                top1 = record['accuracy/top1']
    if top1 is None:
        raise RuntimeError(f'{work_dir}: no accuracy/top1 in its log')
    return top1


def train(config: str, epochs: int, env: dict, work_dir: str) -> tuple:
    command = [
        sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
        '--work-dir', work_dir, '--cfg-options',
        f'train_cfg.max_epochs={epochs}', f'param_scheduler.T_max={epochs}',
        f'param_scheduler.end={epochs}', f'train_cfg.val_interval={epochs}',
        'randomness.seed=0'
    ]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, **env))
    if out.returncode != 0:
        sys.exit(f'error: training under {env} failed: '
                 f'{out.stderr.strip().splitlines()[-1]}')
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    return last_top1(work_dir), weights_digest(checkpoint)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config',
        default='configs/demo/scalenet38-even_1xb64_digits.py',
        help='the run to repeat (default: the demo\'s even ScaleNet-38)')
    parser.add_argument('--epochs', type=int, default=12)
    args = parser.parse_args()
    if args.epochs < 1:
        sys.exit(f'error: --epochs must be at least 1, got {args.epochs}')
    if not osp.isfile(args.config):
        sys.exit(f'error: config not found: {args.config}')
    print(f'{args.config}, {args.epochs} epochs, seed 0; torch '
          f'{torch.__version__}, CPU capability '
          f'{torch.backends.cpu.get_cpu_capability()}')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, env) in enumerate(SETTINGS):
            top1, digest = train(args.config, args.epochs, env,
                                 osp.join(tmp, str(k)))
            rows.append((name, top1, digest))
            same = 'same weights' if digest == rows[0][2] else \
                'other weights'
            print(f'  {name:<58} top-1 {top1:6.2f}%  weights {digest}  '
                  f'{same}', flush=True)
    spread = max(r[1] for r in rows) - min(r[1] for r in rows)
    print(f'top-1 spread over the settings: {spread:.2f} points')


if __name__ == '__main__':
    main()
