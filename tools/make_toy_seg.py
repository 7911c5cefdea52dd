# Copyright (c) mmscalenet contributors. All rights reserved.
"""Write a small deterministic semantic segmentation dataset.

The shapes of ``tools/make_toy_coco.py`` (squares, circles, triangles on a
noisy grey background) with per-pixel labels (0 background, 1 square,
2 circle, 3 triangle), laid out as Cityscapes is
(``leftImg8bit/{train,val}/toy/*_leftImg8bit.png``,
``gtFine/{train,val}/toy/*_gtFine_labelTrainIds.png``), so that mmseg's
``BaseSegDataset`` with the Cityscapes suffixes and ``IoUMetric`` read it
unchanged (as ``configs/pspnet/``
``pspnet_scalenet50-d8_1xb4-200iter_toy-shapes-96x96.py`` does). For smoke
runs and tests; the drawing lives in ``mmscalenet/datasets/toy_shapes.py``.

Example:
    python tools/make_toy_seg.py data/toy_seg --train 64 --val 16 --size 96
"""
import argparse
import sys

from mmscalenet.datasets.toy_shapes import make_toy_segmentation


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir')
    parser.add_argument('--train', type=int, default=64)
    parser.add_argument('--val', type=int, default=16)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    try:
        folders = make_toy_segmentation(args.out_dir, args.train, args.val,
                                        args.size, args.seed)
    except (ValueError, OSError) as error:
        sys.exit(f'error: {error}')
    print(f'wrote {args.train} + {args.val} images and label maps: '
          f'{folders["train"]}, {folders["val"]} (labels under gtFine/)')


if __name__ == '__main__':
    main()
