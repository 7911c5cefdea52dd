# Copyright (c) mmscalenet contributors. All rights reserved.
"""Check that every way of running a ScaleNet gives the authors' outputs.

On one device: the SA block's rewrites that run there, the folded deploy
model, the deploy model zero-padded to GPU-shaped channels, and the padded
build loaded from the published weights, against the authors' modules
(eval outputs; the training loss and gradients). Prints one line per check
and exits 1 if any differs (the logic: mmscalenet/analysis/equivalence.py).

Example:
    python tools/dev/check_equivalence.py --device cuda
    python tools/dev/check_equivalence.py --depth 101 --size 128
"""
import argparse
import sys

import torch

from mmscalenet.analysis.equivalence import check_equivalence


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depth', type=int, default=50, choices=[50, 101])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--channel-multiple', type=int, default=8)
    args = parser.parse_args()
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        sys.exit(f'error: --device {args.device}: torch sees no CUDA device')
    if args.batch < 1 or args.size < 32 or args.channel_multiple < 1:
        sys.exit(f'error: need --batch >= 1, --size >= 32 and '
                 f'--channel-multiple >= 1, got {args.batch}, {args.size}, '
                 f'{args.channel_multiple}')
    checks = check_equivalence(args.depth, args.device, args.batch,
                               args.size, args.channel_multiple)
    print(f'ScaleNet-{args.depth} on {args.device}, batch {args.batch}, '
          f'{args.size}x{args.size}, fp32 (TF32 off):')
    for check in checks:
        print(f'  {check}')
    sys.exit(0 if all(c.passed for c in checks) else 1)


if __name__ == '__main__':
    main()
