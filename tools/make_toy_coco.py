# Copyright (c) mmscalenet contributors. All rights reserved.
"""Write a small deterministic COCO-format detection dataset.

Images of simple filled shapes (squares, circles, triangles) of several
sizes and colours on a noisy background, with COCO instances JSONs, laid out
as COCO 2017 is (``train2017/``, ``val2017/``, ``annotations/``), so that
mmdet's ``CocoDataset`` and ``CocoMetric`` read it unchanged. For smoke runs
and tests; configs select its classes with
``metainfo=dict(classes=('square', 'circle', 'triangle'))``. The drawing
lives in ``mmscalenet/datasets/toy_shapes.py``.

Example:
    python tools/make_toy_coco.py data/toy_coco --train 32 --val 8 --size 160
"""
import argparse
import sys

from mmscalenet.datasets.toy_shapes import make_toy_coco


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir')
    parser.add_argument('--train', type=int, default=32)
    parser.add_argument('--val', type=int, default=8)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    try:
        paths = make_toy_coco(args.out_dir, args.train, args.val, args.size,
                              args.seed)
    except (ValueError, OSError) as error:
        sys.exit(f'error: {error}')
    print(f'wrote {args.train} + {args.val} images: {paths["train"]}, '
          f'{paths["val"]}')


if __name__ == '__main__':
    main()
