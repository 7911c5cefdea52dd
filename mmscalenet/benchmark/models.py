# Copyright (c) mmscalenet contributors. All rights reserved.
"""The models the benchmark times, each tagged by what it is.

A :class:`TimedModel` carries its family (the rows of one network: plain,
fused, padded, compiled ...) and whether the targets judge it: the authors'
layer sequence is timed beside ScaleNet as the reference it must not fall
behind, never judged, fused or run on another engine. The first model of
every set is the baseline (ResNet), the denominator of every ratio.
"""
import copy
import os.path as osp
from dataclasses import dataclass, replace
from typing import Dict

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn

from ..analysis.complexity import measure_complexity
from ..analysis.official_scalenet import OfficialScaleNet
from ..models import ScaleNet

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass
class TimedModel:
    """One timed model.

    Attributes:
        module (nn.Module): The model.
        family (str): The network it runs (``'ScaleNet-50'``): the
            best-engine rows keep the fastest engine of each family.
        judged (bool): Whether its rows are compared with the targets.
    """
    module: nn.Module
    family: str
    judged: bool = True


#: Display name -> model; the first is the baseline.
ModelSet = Dict[str, TimedModel]


class Classifier(nn.Module):
    """Backbone (last stage) + global average pooling + fc."""

    def __init__(self, backbone: nn.Module, channels: int = 2048):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def gmacs(model: nn.Module, size: int = 224) -> float:
    """Conv and fc GMACs of a classifier at ``size`` x ``size`` (counted
    on a CPU copy, whatever the model's device)."""
    with torch.no_grad():
        return measure_complexity(
            copy.deepcopy(model).cpu().eval(),
            (torch.rand(1, 3, size, size), )).macs / 1e9


def classifiers(depth: int,
                size: int = 224,
                channel_multiple: int = 1) -> ModelSet:
    """ResNet (mmpretrain's), ScaleNet, with ``channel_multiple`` > 1
    ScaleNet built padded to it (named with its MACs) and, at inputs of 224
    or more (its last stage pools a 7x7 map by 7), the authors' layer
    sequence (not judged)."""
    from mmpretrain.models import ResNet
    arch = f'scalenet{depth}'
    resnet, scalenet = f'ResNet-{depth}', f'ScaleNet-{depth}'
    models = {
        resnet:
        TimedModel(Classifier(ResNet(depth, out_indices=(3, ))), resnet),
        scalenet:
        TimedModel(
            Classifier(ScaleNet(depth, arch, out_indices=(3, ))), scalenet),
    }
    if channel_multiple > 1:
        padded = Classifier(
            ScaleNet(depth, arch, out_indices=(3, ),
                     channel_multiple=channel_multiple))
        models[f'{scalenet} padded x{channel_multiple} '
               f'({gmacs(padded):.3f} GMACs)'] = TimedModel(padded, scalenet)
    if size >= 224:
        models[f'{scalenet} (authors\' sequence)'] = TimedModel(
            OfficialScaleNet(arch), scalenet, judged=False)
    return models


def judged(models: ModelSet) -> ModelSet:
    """The models the targets judge (the reference left out)."""
    return {name: m for name, m in models.items() if m.judged}


def fused(models: ModelSet, channel_multiple: int = 1) -> ModelSet:
    """Every judged model conv-BN fused (ScaleNet by ``switch_to_deploy``,
    the others by mmcv's ``fuse_conv_bn``); with ``channel_multiple`` > 1
    also the published ScaleNet deployed with its scales zero-padded to it
    (named with its MACs on paper)."""
    out = {}
    for name, model in judged(models).items():
        deployed = copy.deepcopy(model.module).eval()
        if isinstance(deployed.backbone, ScaleNet):
            deployed.backbone.switch_to_deploy()  # the head has no norm
        else:
            fuse_conv_bn(deployed)
        out[f'{name} fused'] = replace(model, module=deployed)
        backbone = model.module.backbone
        if channel_multiple > 1 and isinstance(backbone, ScaleNet) \
                and backbone.channel_multiple == 1:
            padded = copy.deepcopy(model.module).eval()
            padded.backbone.switch_to_deploy(channel_multiple)
            out[f'{name} fused, zero-padded x{channel_multiple} '
                f'({gmacs(padded):.3f} GMACs)'] = replace(
                    model, module=padded)
    return out


def missing_detection_ops() -> str:
    """Why the detectors cannot run here ('' if they can): mmdet itself,
    and its RoI and NMS layers need mmcv's compiled ops (not in
    mmcv-lite)."""
    try:
        import mmdet  # noqa: F401
    except ImportError as error:
        return f'mmdet is not installed: {error}'
    try:
        import mmcv.ops  # noqa: F401
    except ImportError as error:
        return f'mmdet needs mmcv built with its ops: {error}'
    return ''


def detectors(depth: int) -> ModelSet:
    """Faster R-CNN FPN (the 800x1200 config) on ResNet and on ScaleNet."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'faster_rcnn',
                 'faster-rcnn_r50_fpn_8xb2-10e_coco-800x1200.py'))
    out = {}
    for family, backbone in ((f'ResNet-{depth}',
                              dict(type='ResNet', depth=depth)),
                             (f'ScaleNet-{depth}',
                              dict(type='ScaleNet', depth=depth,
                                   structure=f'scalenet{depth}'))):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone = dict(backbone, out_indices=(0, 1, 2, 3))
        with DefaultScope.overwrite_default_scope('mmdet'):
            out[f'Faster R-CNN {family}'] = TimedModel(
                MODELS.build(model_cfg).eval(), family)
    return out
