# Copyright (c) mmscalenet contributors. All rights reserved.
"""A toy dataset and a classifier built in code around a real ScaleNet."""
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmscalenet import CifarScaleNet


class ToyImages(Dataset):
    """16 random 16x16 images in 4 classes."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(16, 3, 16, 16, generator=g)
        self.labels = torch.randint(0, 4, (16, ), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return dict(inputs=self.images[i], labels=self.labels[i])


class ToyClassifier(BaseModel):
    """A CIFAR ScaleNet-38 with a linear head."""

    def __init__(self, structure='even'):
        super().__init__()
        self.backbone = CifarScaleNet(38, structure=structure)
        self.fc = nn.Linear(256, 4)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.fc(self.backbone(torch.stack(inputs))[-1].mean((2, 3)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, torch.stack(labels)))
        return logits


#: Each toy Runner's experiment name: mmengine keys its logger, message hub
#: and visualizer by it, by default the start second, which two quick
#: Runners in one process share (the second then logs to the first's
#: work dir).
_RUN_NAMES = (f'toy_runner_{i}' for i in itertools.count())


def toy_runner(work_dir, max_iters, structure='even', **kwargs):
    """A Runner training :class:`ToyClassifier` on :class:`ToyImages`."""
    kwargs.setdefault('experiment_name', next(_RUN_NAMES))
    return Runner(
        model=ToyClassifier(structure),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyImages(),
            # (mmengine's iteration loop sleeps 2 s at each pass over a
            # finite sampler's data; an infinite one has none.)
            sampler=dict(type='InfiniteSampler', shuffle=True),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs)
