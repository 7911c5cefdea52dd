# Copyright (c) mmscalenet contributors. All rights reserved.
"""Small deterministic toy datasets of filled shapes, for smoke runs and
tests, in the folder layouts the OpenMMLab dataset classes read unchanged.

Every image is a blurred grey-noise background with 1 to 3 non-overlapping
filled shapes (square, circle, triangle) of random size and colour. One
drawing routine (:func:`draw_shapes`) serves two layouts:

- COCO 2017 (:func:`make_toy_coco`): ``train2017/``, ``val2017/`` and
  ``annotations/instances_{train,val}2017.json``, read by mmdet's
  ``CocoDataset`` and ``CocoMetric``;
- Cityscapes (:func:`make_toy_segmentation`):
  ``leftImg8bit/{train,val}/toy/*_leftImg8bit.png`` and
  ``gtFine/{train,val}/toy/*_gtFine_labelTrainIds.png`` (label 0 the
  background, 1-3 the shapes), read by mmseg's ``BaseSegDataset`` with the
  Cityscapes suffixes and ``IoUMetric``.

Every file is written under a temporary name and renamed, so an
interrupted run leaves no half-written file.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> folders = make_toy_segmentation(root, train=2, val=1, size=64)
    >>> sorted(folders)
    ['train', 'val']
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ..fileio import atomic_path, write_atomically

#: The shape classes, in label order (COCO category ids and segmentation
#: labels start at 1; segmentation label 0 is the background).
CLASSES = ('square', 'circle', 'triangle')
#: The segmentation labels, in order (a config's ``metainfo.classes``).
SEGMENTATION_CLASSES = ('background', ) + CLASSES


def shape_polygon(kind: str, cx: float, cy: float, r: float) -> np.ndarray:
    """The outline of a shape of 'radius' r centred at (cx, cy)."""
    if kind == 'square':
        angles = np.deg2rad([45, 135, 225, 315])
    elif kind == 'triangle':
        angles = np.deg2rad([-90, 30, 150])
    else:
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)


def draw_shapes(rng: np.random.Generator,
                size: int) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One BGR image of ``size`` x ``size`` and its shapes, as
    ``(label, polygon)`` pairs with ``label`` an index into
    :data:`CLASSES`."""
    img = rng.integers(90, 150, (size, size, 3)).astype(np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 0)
    shapes, placed = [], []
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
        cv2.fillPoly(img, [pixel_polygon(polygon)], colour)
        shapes.append((label, polygon))
    return img, shapes


def pixel_polygon(polygon: np.ndarray) -> np.ndarray:
    """A polygon rounded to the pixel grid, as ``cv2.fillPoly`` takes it."""
    return np.round(polygon).astype(np.int32)


def write_image(path: str, img: np.ndarray, *params) -> None:
    """``cv2.imwrite`` through a temporary name and a rename."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, img, list(params)):
            raise OSError(f'could not write {path}')


def check_sizes(train: int, val: int, size: int) -> None:
    if size < 32:
        raise ValueError(f'--size must be at least 32, got {size}')
    if train < 1 or val < 1:
        raise ValueError(f'need at least one image per split, got train='
                         f'{train}, val={val}')


def coco_annotations(shapes: List[Tuple[int, np.ndarray]], size: int,
                     image_id: int, first_ann_id: int) -> List[dict]:
    """COCO instance annotations of one image's shapes."""
    annotations = []
    for label, polygon in shapes:
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
    return annotations


def write_coco_split(out_dir: str, split: str, count: int, size: int,
                     rng: np.random.Generator, first_image_id: int) -> str:
    """Images of one COCO split and its instances JSON; returns its path."""
    images, annotations = [], []
    for i in range(count):
        image_id = first_image_id + i
        img, shapes = draw_shapes(rng, size)
        annotations += coco_annotations(shapes, size, image_id,
                                        len(annotations) + 1)
        name = f'{image_id:012d}.jpg'
        write_image(
            osp.join(out_dir, f'{split}2017', name), img,
            cv2.IMWRITE_JPEG_QUALITY, 95)
        images.append(
            dict(id=image_id, file_name=name, height=size, width=size))
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
    write_atomically(path, json.dumps(coco))
    return path


def make_toy_coco(out_dir: str,
                  train: int = 32,
                  val: int = 8,
                  size: int = 160,
                  seed: int = 0) -> Dict[str, str]:
    """Write the COCO-layout set; returns the two annotation file paths.

    Example:
        >>> import tempfile
        >>> paths = make_toy_coco(tempfile.mkdtemp(), train=2, val=1,
        ...                       size=64)
        >>> sorted(paths)
        ['train', 'val']
    """
    check_sizes(train, val, size)
    rng = np.random.default_rng(seed)
    return dict(
        train=write_coco_split(out_dir, 'train', train, size, rng, 1),
        val=write_coco_split(out_dir, 'val', val, size, rng, 100000))


def label_map(shapes: List[Tuple[int, np.ndarray]], size: int) -> np.ndarray:
    """The segmentation labels of one image: 0 background, ``label + 1``
    inside each shape (the pixels ``cv2.fillPoly`` painted)."""
    labels = np.zeros((size, size), np.uint8)
    for label, polygon in shapes:
        cv2.fillPoly(labels, [pixel_polygon(polygon)], label + 1)
    return labels


def make_toy_segmentation(out_dir: str,
                          train: int = 64,
                          val: int = 16,
                          size: int = 128,
                          seed: int = 0) -> Dict[str, str]:
    """Write the Cityscapes-layout set; returns the image folder of each
    split (``leftImg8bit/<split>``; the labels are beside it under
    ``gtFine/<split>``)."""
    check_sizes(train, val, size)
    rng = np.random.default_rng(seed)
    folders = {}
    for split, count in (('train', train), ('val', val)):
        for i in range(count):
            img, shapes = draw_shapes(rng, size)
            stem = f'toy_{split}_{i:06d}'
            write_image(
                osp.join(out_dir, 'leftImg8bit', split, 'toy',
                         f'{stem}_leftImg8bit.png'), img)
            write_image(
                osp.join(out_dir, 'gtFine', split, 'toy',
                         f'{stem}_gtFine_labelTrainIds.png'),
                label_map(shapes, size))
        folders[split] = osp.join(out_dir, 'leftImg8bit', split)
    return folders
