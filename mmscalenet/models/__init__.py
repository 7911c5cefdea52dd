# Copyright (c) mmscalenet contributors. All rights reserved.
from .channel_spec import STRUCTURE_NAMES, ChannelSpec
from .cifar import CifarResNet, CifarScaleNet
from .bottleneck import Bottleneck
from .residual import ResidualBackbone
from .sa_block import SABlock
from .scalenet import SABottleneck, ScaleNet
from .variants import PUBLISHED_VARIANTS, ScaleNetVariant

__all__ = [
    'ChannelSpec', 'STRUCTURE_NAMES', 'SABlock', 'Bottleneck', 'SABottleneck',
    'ResidualBackbone',
    'ScaleNet', 'CifarScaleNet', 'CifarResNet', 'PUBLISHED_VARIANTS',
    'ScaleNetVariant'
]
