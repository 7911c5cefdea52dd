# Copyright (c) mmscalenet contributors. All rights reserved.
"""scikit-learn's handwritten digits as an mmpretrain dataset."""
from typing import List

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """The 1,797 8x8 grey images of handwritten digits shipped with
    scikit-learn (UCI optical digits), 10 classes.

    The split is deterministic: every ``test_every``-th image (in the
    package's order) is a test image, the rest train images (1,437 / 360
    with the default 5). Images are returned as 8x8x3 uint8 arrays (the
    0-16 intensities scaled to 0-255) under ``'img'``, ready for mmpretrain
    transforms such as ``Resize``.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        test_every (int): One image in ``test_every`` is a test image.
            Defaults to 5.
        **kwargs: Arguments of mmpretrain's ``BaseDataset`` (``pipeline``,
            ``indices``, ...).

    Example:
        >>> dataset = DigitsDataset(split='test')
        >>> len(dataset), dataset[0]['img'].shape
        (360, (8, 8, 3))
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self, split: str = 'train', test_every: int = 5, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got "
                             f'{split!r}')
        if test_every < 2:
            raise ValueError(f'test_every must be at least 2, got '
                             f'{test_every}')
        self.split = split
        self.test_every = test_every
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
        is_test = np.arange(len(images)) % self.test_every == 0
        keep = is_test if self.split == 'test' else ~is_test
        return [
            dict(img=np.repeat(img[..., None], 3, axis=2),
                 gt_label=int(label))
            for img, label in zip(images[keep], digits.target[keep])
        ]
