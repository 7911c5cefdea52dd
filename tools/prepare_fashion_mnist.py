# Copyright (c) mmscalenet contributors. All rights reserved.
"""Fill data/fashion_mnist/ with the four checked Fashion-MNIST files.

mmpretrain's ``FashionMNIST(download=False)`` reads them from there. The
files come from ``--src`` folders (packed ``.gz`` or unpacked), else from
Debian's ``dataset-fashion-mnist`` package, else from mmpretrain's download
where the machine is online. Every file's magic number, item count, image
size, length and checksum are checked; nothing half-written is left behind.

Example:
    apt-get install dataset-fashion-mnist
    python tools/prepare_fashion_mnist.py
    python tools/prepare_fashion_mnist.py --src ~/Downloads/fashion-mnist
"""
import argparse
import sys

from mmscalenet.datasets.fashion_mnist import (DEBIAN_DIR, DEFAULT_DATA_ROOT,
                                               FashionMNISTError,
                                               prepare_fashion_mnist)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out', default=DEFAULT_DATA_ROOT,
        help=f'the data folder (default: {DEFAULT_DATA_ROOT})')
    parser.add_argument(
        '--src', nargs='+',
        help=f'folders holding the files (default: {DEBIAN_DIR})')
    parser.add_argument(
        '--no-download', action='store_true',
        help='never try mmpretrain\'s download')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        sources = prepare_fashion_mnist(args.out, args.src,
                                        download=not args.no_download)
    except FashionMNISTError as e:
        sys.exit(f'error: {e}')
    for name, source in sources.items():
        print(f'{args.out}/{name}: checked (from {source})')


if __name__ == '__main__':
    main()
