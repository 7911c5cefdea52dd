# Copyright (c) mmscalenet contributors. All rights reserved.
"""The residual backbone ScaleNet and the CIFAR ResNet share, in mmdet's
``ResNet`` shape, taking every ``ResNet`` key.

:class:`ResidualBackbone` owns every setting; a subclass names its blocks
in ``arch_settings = {depth: (block, stage_blocks)}`` and overrides one
method for what differs: :meth:`~ResidualBackbone._make_stem_layer` (the
CIFAR stem), :meth:`~ResidualBackbone.make_res_layer` (ScaleNet's SA blocks)
or :meth:`~ResidualBackbone.stage_width` (a widened ResNet). The
arithmetic of the settings is in :mod:`.resnet_settings`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from .bottleneck import Bottleneck
from .resnet_settings import (DEFAULT_INIT_CFG, block_dilations, check_dcn,
                              check_num_stages, drop_path_rates,
                              pretrained_init_cfg, refuse_unsupported,
                              stage_plugins, stage_strides_and_dilations)


class ResidualBackbone(BaseModule):
    """Stages of bottleneck blocks behind a stem, taking every setting of
    mmdet's, mmpretrain's and mmseg's ``ResNet``.

    The ImageNet stem, then ``layer1``, ``layer2``, ... of
    ``arch_settings[depth]``. Every key of those ``ResNet`` s is honoured
    with its meaning there or, where a subclass's blocks give it none,
    refused in one line naming the key, its value and what to write
    instead (:attr:`unsupported_settings`), so a stock config whose
    backbone is a ``ResNet`` takes a subclass by overriding its ``type``.

    Args:
        depth (int): A key of ``arch_settings``.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int, optional): Stem output channels; None means
            ``base_channels`` (mmdet's default). Defaults to 64.
        base_channels (int): Bottleneck width of the first stage; see
            :meth:`stage_width`. Defaults to 64.
        expansion (int, optional): mmpretrain's bottleneck expansion: None
            or the block's own (4). Defaults to None.
        num_stages (int, optional): Build the first ``num_stages`` stages
            only; None means all. Defaults to None.
        strides (Sequence[int], optional): Stride of each stage's first
            block, 1 or 2 (mmdet's and mmseg's convention); None means 1 for
            the first stage and 2 for the others. A dilated backbone for
            segmentation (output stride 8) uses ``(1, 2, 1, 1)``.
            Defaults to None.
        dilations (Sequence[int], optional): Dilation of each stage's 3x3
            convs (``(1, 1, 2, 4)`` with those strides); None means 1
            everywhere. Defaults to None.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (0, 1, 2, 3).
        style (str): ``'pytorch'`` (stride on the 3x3 conv) or ``'caffe'``
            (on the first 1x1 conv). Defaults to ``'pytorch'``.
        deep_stem (bool): Three 3x3 convs in place of the 7x7 conv (ResNetV1c
            and V1d), as ``stem``. Defaults to False.
        avg_down (bool): ResNet-D's shortcut: a 2x2 average pool, then a
            stride-1 1x1 conv. Defaults to False.
        frozen_stages (int): Stages (and the stem, from 0 on) kept frozen;
            -1 freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep norm layers in eval mode while training.
            Defaults to False.
        dcn (dict, optional): Deformable conv config of the 3x3 convs in the
            stages ``stage_with_dcn`` marks, as mmdet's. Defaults to None.
        stage_with_dcn (Sequence[bool], optional): One flag per stage; None
            means none (mmdet's default). Defaults to None.
        plugins (list[dict], optional): ``dict(cfg=..., position=...,
            stages=...)`` per plugin, as mmdet's ``ResNet``: built in every
            block of the stages ``stages`` marks (None: all) at
            ``'after_conv1'``, ``'after_conv2'`` or ``'after_conv3'``.
            Defaults to None.
        multi_grid (Sequence[int], optional): mmseg's: the dilation of each
            block of the last stage. Defaults to None.
        contract_dilation (bool): mmseg's: halve the first block's dilation
            in a stage whose dilation is above 1. Defaults to False.
        with_cp (bool): Gradient checkpointing in every block.
            Defaults to False.
        zero_init_residual (bool): Zero-init the last norm of every block,
            as mmdet's, mmpretrain's and mmseg's ResNets do (False: the
            authors' initialization, every norm's weight 1). Not applied
            under a ``Pretrained`` ``init_cfg``. Defaults to True.
        drop_path_rate (float): mmpretrain's stochastic depth: from 0 at the
            first block up to this at the last. Defaults to 0.
        pretrained (str, optional): Deprecated, as in mmdet's ``ResNet``
            (mmseg's and old configs pass it): a checkpoint to start from,
            turned into ``init_cfg=dict(type='Pretrained', checkpoint=...)``
            with a warning. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config; None
            means the authors' (Kaiming normal fan-out for convs), as None
            means Kaiming in mmdet's ``ResNet``. Defaults to None.
    """

    #: ``{depth: (block class, blocks per stage)}``, set by subclasses.
    arch_settings: Dict[int, Tuple[Type[Bottleneck], Tuple[int, ...]]] = {}
    #: Downsampling of the stem (input side / first stage side).
    stem_stride = 4
    #: ``{key: (the only value this network takes, why)}``: settings the
    #: class cannot honour (:func:`refuse_unsupported`). Collected over the
    #: class's bases, so a mixin adds its own.
    unsupported_settings: Dict[str, Tuple[object, str]] = {}

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = 64,
                 base_channels: int = 64,
                 expansion: Optional[int] = None,
                 num_stages: Optional[int] = None,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Optional[Sequence[bool]] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 drop_path_rate: float = 0.0,
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        self.block, all_stage_blocks = self.arch(depth)
        refuse_unsupported(
            type(self).__name__,
            dict(style=style, deep_stem=deep_stem, avg_down=avg_down),
            self.collected_unsupported_settings())
        if expansion not in (None, self.block.expansion):
            raise ValueError(
                f'{type(self).__name__} does not take expansion='
                f'{expansion!r}: its bottleneck expands by '
                f'{self.block.expansion}; use expansion=None (or leave the '
                f'key out)')
        if pretrained is not None:
            init_cfg = pretrained_init_cfg(pretrained, init_cfg)
        super().__init__(DEFAULT_INIT_CFG if init_cfg is None else init_cfg)
        num_stages = check_num_stages(num_stages, len(all_stage_blocks))
        self.stage_blocks = all_stage_blocks[:num_stages]
        self.strides, self.dilations = stage_strides_and_dilations(
            num_stages, strides, dilations)
        if not all(-num_stages <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices {tuple(out_indices)} must be in '
                             f'[0, {num_stages})')
        if frozen_stages > num_stages:
            raise ValueError(f'frozen_stages {frozen_stages} must be at most '
                             f'the number of stages, {num_stages}')
        self.depth = depth
        self.num_stages = num_stages
        self.base_channels = base_channels
        self.out_indices = tuple(i % num_stages for i in out_indices)
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.dcn = dcn
        self.stage_with_dcn = check_dcn(dcn, stage_with_dcn, conv_cfg,
                                        num_stages)
        self.plugins = plugins
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        #: Per stage, the dilation of each block (``multi_grid`` and
        #: ``contract_dilation``, as mmseg's ``ResLayer``).
        self.block_dilations = [
            block_dilations(
                self.dilations[i], n,
                multi_grid if i == num_stages - 1 else None,
                contract_dilation) for i, n in enumerate(self.stage_blocks)
        ]
        #: Per stage, the stochastic-depth rate of each block.
        self.drop_path_rates = drop_path_rates(drop_path_rate,
                                               self.stage_blocks)

        stem_channels = base_channels if stem_channels is None \
            else stem_channels
        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers: List[str] = []
        channels = stem_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = self.stage_width(i)
            name = f'layer{i + 1}'
            self.add_module(
                name, self.make_res_layer(i, channels, planes, num_blocks))
            self.res_layers.append(name)
            channels = planes * self.block.expansion
        self.feat_dim = channels
        self._freeze_stages()

    @classmethod
    def collected_unsupported_settings(cls) -> Dict[str, Tuple[object, str]]:
        """:attr:`unsupported_settings` of the class and its bases."""
        collected = {}
        for klass in reversed(cls.__mro__):
            collected.update(vars(klass).get('unsupported_settings', {}))
        return collected

    @classmethod
    def arch(cls, depth: int) -> Tuple[Type[Bottleneck], Tuple[int, ...]]:
        """``arch_settings[depth]``, or a ``KeyError`` naming the depths."""
        if depth not in cls.arch_settings:
            raise KeyError(f'invalid depth {depth} for {cls.__name__}, '
                           f'choose from {sorted(cls.arch_settings)}')
        return cls.arch_settings[depth]

    def stage_width(self, stage: int) -> int:
        """Bottleneck width of stage ``stage``: ``base_channels`` doubled
        per stage."""
        return self.base_channels * 2**stage

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        """7x7 stride-2 conv and norm (``conv1``, ``norm1``), or with
        ``deep_stem`` mmdet's three 3x3 convs with norms and ReLUs
        (``stem``); then a 3x3 stride-2 max pool (``maxpool``)."""
        if self.deep_stem:
            layers = []
            for i, (c_in, c_out) in enumerate(
                    ((in_channels, stem_channels // 2),
                     (stem_channels // 2, stem_channels // 2),
                     (stem_channels // 2, stem_channels))):
                layers += [
                    build_conv_layer(self.conv_cfg, c_in, c_out, 3,
                                     stride=2 if i == 0 else 1, padding=1,
                                     bias=False),
                    build_norm_layer(self.norm_cfg, c_out)[1],
                    nn.ReLU(inplace=True)
                ]
            self.stem = nn.Sequential(*layers)
        else:
            self.add_stem_conv(in_channels, stem_channels, kernel_size=7,
                               stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def add_stem_conv(self, in_channels: int, stem_channels: int,
                      kernel_size: int, stride: int) -> None:
        """``conv1`` (a ``kernel_size`` conv, 'same' padding), its norm
        ``norm1`` and ``relu``: the stem's first layers, for
        :meth:`_make_stem_layer`, registered in the order they run (timm's
        feature extractors replay the children in that order)."""
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            in_channels,
            stem_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def make_shortcut(self, in_channels: int, out_channels: int,
                      stride: int) -> Optional[nn.Module]:
        """1x1 conv + norm projection, None where identity fits; with
        ``avg_down`` a strided one averages first and convolves at stride
        1 (ResNet-D)."""
        if stride == 1 and in_channels == out_channels:
            return None
        layers = []
        if self.avg_down and stride > 1:
            layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True,
                                       count_include_pad=False))
            stride = 1
        return Sequential(
            *layers,
            build_conv_layer(
                self.conv_cfg,
                in_channels,
                out_channels,
                kernel_size=1,
                stride=stride,
                bias=False),
            build_norm_layer(self.norm_cfg, out_channels)[1])

    def make_res_layer(self,
                       stage: int,
                       in_channels: int,
                       planes: int,
                       num_blocks: int,
                       block_args: Optional[Sequence[dict]] = None
                       ) -> Sequential:
        """Stage ``stage``: ``num_blocks`` blocks of ``self.block``, with the
        stage's dilations, DCN, plugins and stochastic depth.

        Args:
            stage (int): Index of the stage (0 for ``layer1``).
            in_channels (int): Channels into the stage.
            planes (int): Bottleneck width of its blocks.
            num_blocks (int): Number of blocks.
            block_args (Sequence[dict], optional): Extra keyword arguments
                of each block. Defaults to None.
        """
        out_channels = planes * self.block.expansion
        plugins = stage_plugins(self.plugins, stage, self.num_stages)
        blocks = []
        for b in range(num_blocks):
            stride = self.strides[stage] if b == 0 else 1
            shortcut_stride = stride if self.block.strided_shortcut else 1
            blocks.append(
                self.block(
                    in_channels,
                    planes,
                    stride=stride,
                    dilation=self.block_dilations[stage][b],
                    downsample=self.make_shortcut(in_channels, out_channels,
                                                  shortcut_stride),
                    style=self.style,
                    with_cp=self.with_cp,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    dcn=self.dcn if self.stage_with_dcn[stage] else None,
                    plugins=plugins,
                    drop_path_rate=self.drop_path_rates[stage][b],
                    **(block_args[b] if block_args else {})))
            in_channels = out_channels
        return Sequential(*blocks)

    def forward_stem_convs(self, x: torch.Tensor) -> torch.Tensor:
        """The stem before its max pool (timm's first feature level)."""
        if self.deep_stem:
            return self.stem(x)
        return self.relu(self.norm1(self.conv1(x)))

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.forward_stem_convs(x))

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.forward_stem(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen += [self.stem] if self.deep_stem else [
                self.conv1, self.norm1
            ]
        frozen += [
            getattr(self, f'layer{i}')
            for i in range(1, self.frozen_stages + 1)
        ]
        for m in frozen:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        super().init_weights()
        pretrained = (
            isinstance(self.init_cfg, dict)
            and self.init_cfg.get('type') == 'Pretrained')
        if self.zero_init_residual and not pretrained:
            self.zero_init_last_norms()

    def zero_init_last_norms(self) -> None:
        """Zero the weight of every block's last norm: each residual
        branch starts as nothing, whatever the scale of its convs."""
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.norm3.weight, 0)

    def train(self, mode: bool = True) -> 'ResidualBackbone':
        """Set the mode, keeping frozen stages and (``norm_eval``) norms in
        eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
