# Copyright (c) mmscalenet contributors. All rights reserved.
"""Write a small deterministic COCO-format detection dataset.

Images of simple filled shapes (squares, circles, triangles) of several
sizes and colours on a noisy background, with COCO instances JSONs, laid out
as COCO 2017 is (``train2017/``, ``val2017/``, ``annotations/``), so that
mmdet's ``CocoDataset`` and ``CocoMetric`` read it unchanged. For smoke runs
and tests; configs select its classes with
``metainfo=dict(classes=('square', 'circle', 'triangle'))``.

Example:
    python tools/make_toy_coco.py data/toy_coco --train 32 --val 8 --size 160
"""
import argparse
import json
import os
import os.path as osp

import cv2
import numpy as np

CLASSES = ('square', 'circle', 'triangle')


def shape_polygon(kind: str, cx: float, cy: float, r: float) -> np.ndarray:
    """The outline of a shape of 'radius' r centred at (cx, cy)."""
    if kind == 'square':
        angles = np.deg2rad([45, 135, 225, 315])
    elif kind == 'triangle':
        angles = np.deg2rad([-90, 30, 150])
    else:
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)


def make_image(rng: np.random.Generator, size: int, image_id: int,
               first_ann_id: int):
    """One image and its annotations (1 to 3 non-overlapping shapes)."""
    img = rng.integers(90, 150, (size, size, 3)).astype(np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 0)
    annotations, placed = [], []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            r = float(rng.uniform(0.08, 0.3) * size)
            cx, cy = rng.uniform(r, size - r, 2)
            if all(np.hypot(cx - x, cy - y) > r + pr + 2
                   for x, y, pr in placed):
                break
        else:
            continue
        placed.append((cx, cy, r))
        label = int(rng.integers(len(CLASSES)))
        polygon = shape_polygon(CLASSES[label], cx, cy, r)
        colour = [int(c) for c in rng.integers(0, 256, 3)]
        if max(colour) - min(colour) < 60:  # keep shapes off the grey ground
            colour[int(rng.integers(3))] = 255
        cv2.fillPoly(img, [np.round(polygon).astype(np.int32)], colour)
        x0, y0 = np.clip(polygon.min(0), 0, size)
        x1, y1 = np.clip(polygon.max(0), 0, size)
        annotations.append(
            dict(
                id=first_ann_id + len(annotations),
                image_id=image_id,
                category_id=label + 1,
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                area=float(cv2.contourArea(polygon.astype(np.float32))),
                segmentation=[polygon.reshape(-1).round(2).tolist()],
                iscrowd=0))
    return img, annotations


def write_split(out_dir: str, split: str, count: int, size: int,
                rng: np.random.Generator, first_image_id: int) -> str:
    image_dir = osp.join(out_dir, f'{split}2017')
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        image_id = first_image_id + i
        img, anns = make_image(rng, size, image_id, len(annotations) + 1)
        name = f'{image_id:012d}.jpg'
        cv2.imwrite(osp.join(image_dir, name), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(
            dict(id=image_id, file_name=name, height=size, width=size))
        annotations += anns
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    path = osp.join(ann_dir, f'instances_{split}2017.json')
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(coco, f)
    os.replace(tmp, path)
    return path


def make_toy_coco(out_dir: str,
                  train: int = 32,
                  val: int = 8,
                  size: int = 160,
                  seed: int = 0) -> dict:
    """Write the dataset; returns the two annotation file paths."""
    if size < 32:
        raise ValueError(f'--size must be at least 32, got {size}')
    if train < 1 or val < 1:
        raise ValueError(f'need at least one image per split, got train='
                         f'{train}, val={val}')
    rng = np.random.default_rng(seed)
    return dict(
        train=write_split(out_dir, 'train', train, size, rng, 1),
        val=write_split(out_dir, 'val', val, size, rng, 100000))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir')
    parser.add_argument('--train', type=int, default=32)
    parser.add_argument('--val', type=int, default=8)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    paths = make_toy_coco(args.out_dir, args.train, args.val, args.size,
                          args.seed)
    print(f'wrote {args.train} + {args.val} images: {paths["train"]}, '
          f'{paths["val"]}')


if __name__ == '__main__':
    main()
