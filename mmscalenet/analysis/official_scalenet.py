# Copyright (c) mmscalenet contributors. All rights reserved.
"""The authors' ScaleNet, restated from its description (docs/model.md,
"Fidelity").

Their layer sequence and state_dict layout, written out plainly: the
fidelity reference of the tests (outputs, MACs, parameters), the baseline of
``tools/benchmark.py`` and the source model of the converter's tests. Not
the package's model (``mmscalenet.ScaleNet``); it keeps their run-time
nearest/bilinear choice and their small-map crash, and fixes only their
never-reset block counter (each block gets its row explicitly).

State_dict keys: ``conv1``, ``bn1``, ``layerS.B.conv1``, ``layerS.B.bn1``,
``layerS.B.conv2.I``/``bn2.I`` per present scale I (gaps for absent
scales), ``layerS.B.conv3``, ``layerS.B.bn3``, ``layerS.0.downsample.0/1``,
``fc``.
"""
import json
import math
import os.path as osp

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import PUBLISHED_VARIANTS, ScaleNet
from ..models.channel_spec import STRUCTURE_DIR

POOL_FACTORS = (1, 2, 4, 7)


def build_sa_layers(in_channels, row, dilation=1):
    """The per-scale convs and BNs of one SA layer, keyed by scale index
    (3x3 convs dilated by ``dilation``, padding = dilation)."""
    *channels, side = row
    convs, norms = nn.ModuleDict(), nn.ModuleDict()
    for i, c in enumerate(channels):
        if c > 0:
            k = 3 if side / 2**i > 1 else 1
            d = dilation if k == 3 else 1
            convs[str(i)] = nn.Conv2d(
                in_channels, c, k, padding=d * (k // 2), dilation=d,
                bias=False)
            norms[str(i)] = nn.BatchNorm2d(c)
    return convs, norms


def sa_forward(x, convs, norms):
    """The authors' SA sequence: per scale max pool, conv, upsample (nearest
    at integer ratios, else bilinear, decided per input), BN; concatenation;
    ReLU."""
    h, w = x.shape[-2:]
    outs = []
    for key, conv in convs.items():
        s = POOL_FACTORS[int(key)]
        y = conv(F.max_pool2d(x, s, s) if s > 1 else x)
        if s > 1:
            ph, pw = y.shape[-2:]
            if h % ph == 0 and w % pw == 0:
                y = F.interpolate(y, size=(h, w), mode='nearest')
            else:
                y = F.interpolate(
                    y, size=(h, w), mode='bilinear', align_corners=False)
        outs.append(norms[key](y))
    return F.relu(torch.cat(outs, 1))


class OfficialSALayer(nn.Module):
    """One SA layer in the authors' sequence (ReLU included)."""

    def __init__(self, in_channels, row):
        super().__init__()
        self.conv2, self.bn2 = build_sa_layers(in_channels, row)

    def forward(self, x):
        return sa_forward(x, self.conv2, self.bn2)


class OfficialBlock(nn.Module):
    """The authors' bottleneck: optional 2x2 max pool of the input, 1x1,
    SA layer (its 3x3 convs dilated by ``dilation``), 1x1, shortcut."""

    def __init__(self, in_channels, planes, row, stride, downsample,
                 dilation=1):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = build_sa_layers(planes, row, dilation)
        self.conv3 = nn.Conv2d(sum(row[:-1]), planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        if self.stride > 1:
            x = F.max_pool2d(x, 2, 2)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(sa_forward(out, self.conv2, self.bn2)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class OfficialScaleNet(nn.Module):
    """The authors' ImageNet ScaleNet for one of the shipped structures.

    ``strides`` and ``dilations`` (per stage) restate the dilated ScaleNet
    that MMSegmentation 0.x projects ship (xmed-lab/URN,
    ``mmseg/models/backbones/scalenet.py``) on the authors' file: a stage of
    stride 1 drops its 2x2 max pool, and every 3x3 conv of every scale in a
    stage of dilation d is dilated by d with padding d; 1x1 convs are
    untouched. The upsampling stays the authors' per-input choice.

    Example:
        >>> os8 = OfficialScaleNet('scalenet101', strides=(1, 2, 1, 1),
        ...                        dilations=(1, 1, 2, 4))
    """

    def __init__(self,
                 arch='scalenet50',
                 num_classes=1000,
                 strides=(1, 2, 2, 2),
                 dilations=(1, 1, 1, 1)):
        super().__init__()
        with open(osp.join(STRUCTURE_DIR, f'{arch}.json')) as f:
            rows = iter(json.load(f))
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_channels = 64
        _, stage_blocks = ScaleNet.arch(PUBLISHED_VARIANTS[arch].depth)
        for s, n in enumerate(stage_blocks):
            planes = 64 * 2**s
            blocks = []
            for b in range(n):
                downsample = None
                if b == 0:
                    downsample = nn.Sequential(
                        nn.Conv2d(in_channels, planes * 4, 1, bias=False),
                        nn.BatchNorm2d(planes * 4))
                blocks.append(
                    OfficialBlock(in_channels, planes, next(rows),
                                  strides[s] if b == 0 else 1, downsample,
                                  dilations[s]))
                in_channels = planes * 4
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2. / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def stages(self, x):
        """The four stages' outputs (as a backbone's ``out_indices``)."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        outs = []
        for s in range(1, 5):
            x = getattr(self, f'layer{s}')(x)
            outs.append(x)
        return outs

    def forward(self, x):
        return self.fc(self.stages(x)[-1].mean((2, 3)))
