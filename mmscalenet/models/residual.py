# Copyright (c) mmscalenet contributors. All rights reserved.
"""The bottleneck block and the residual backbone ScaleNet and the CIFAR
ResNet share, in mmdet's ``ResNet`` shape.

:class:`ResidualBackbone` owns every setting; a subclass names its blocks
in ``arch_settings = {depth: (block, stage_blocks)}`` and overrides one
method for what differs: :meth:`~ResidualBackbone._make_stem_layer` (the
CIFAR stem), :meth:`~ResidualBackbone.make_res_layer` (ScaleNet's SA blocks)
or :meth:`~ResidualBackbone.stage_width` (a widened ResNet).
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from .pooling import StemMaxPool


class Bottleneck(BaseModule):
    """ResNet bottleneck (1x1, 3x3, 1x1), stride on the 3x3 conv.

    The layer between the 1x1 convs is built by :meth:`build_conv2`, which
    receives ``conv2_args``: a subclass replaces that layer by overriding
    the method and passing its settings there (see ``SABottleneck``).

    Args:
        in_channels (int): Input channels.
        planes (int): Width of the 1x1 and 3x3 convs; the block outputs
            ``planes * expansion`` channels.
        stride (int): Stride of the block. Defaults to 1.
        dilation (int): Dilation of the 3x3 conv. Defaults to 1.
        downsample (nn.Module, optional): Shortcut projection.
            Defaults to None (identity).
        with_cp (bool): Gradient checkpointing of the block body.
            Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        conv2_args (dict, optional): Keyword arguments of
            :meth:`build_conv2`. Defaults to None (none).
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Example:
        >>> import torch
        >>> block = Bottleneck(64, 16)
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    expansion = 4
    #: Whether the shortcut projection carries the block's stride (a
    #: ScaleNet block pools its input for both paths instead).
    strided_shortcut = True

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 conv2_args: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, planes, kernel_size=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        mid_channels = self.build_conv2(**(conv2_args or {}))
        self.conv3 = build_conv_layer(
            conv_cfg,
            mid_channels,
            planes * self.expansion,
            kernel_size=1,
            bias=False)
        self.norm3_name, norm3 = build_norm_layer(
            norm_cfg, planes * self.expansion, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def build_conv2(self) -> int:
        """Build the spatial layer(s) between the 1x1 convs (called by
        ``__init__`` with ``conv2_args``, after ``conv1``).

        Returns:
            int: Channels they output.
        """
        self.conv2 = build_conv_layer(
            self.conv_cfg,
            self.planes,
            self.planes,
            kernel_size=3,
            stride=self.stride,
            padding=self.dilation,
            dilation=self.dilation,
            bias=False)
        self.norm2_name, norm2 = build_norm_layer(
            self.norm_cfg, self.planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        return self.planes

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.norm2_name)(self.conv2(x))

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the block does to its input before both paths."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x):
            x = self.forward_input(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.relu(self.forward_conv2(out))
            out = self.norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
            return out

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.relu(out)


#: Default initialization: the authors' (normal, std sqrt(2 / (k*k*out)))
#: for convs, weight 1 and bias 0 for norms.
DEFAULT_INIT_CFG = [
    dict(
        type='Kaiming',
        layer='Conv2d',
        mode='fan_out',
        nonlinearity='relu',
        distribution='normal'),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]


def stage_strides_and_dilations(
        num_stages: int, strides: Optional[Sequence[int]],
        dilations: Optional[Sequence[int]]) -> Tuple[tuple, tuple]:
    """Checked ``strides`` and ``dilations`` of a backbone's stages (the
    defaults where None); a ``ValueError`` names a bad value."""
    strides = (1, ) + (2, ) * (num_stages - 1) if strides is None else tuple(
        strides)
    dilations = (1, ) * num_stages if dilations is None else tuple(dilations)
    for name, values in (('strides', strides), ('dilations', dilations)):
        if len(values) != num_stages:
            raise ValueError(f'{name} needs one value per stage '
                             f'({num_stages}), got {values}')
    if any(s not in (1, 2) or isinstance(s, bool) for s in strides):
        raise ValueError(f'strides must be 1 or 2 (the 2x2 max pool at a '
                         f'stage\'s start, or none), got {strides}')
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1
           for d in dilations):
        raise ValueError(f'dilations must be positive integers, got '
                         f'{dilations}')
    return strides, dilations


def pretrained_init_cfg(pretrained: str, init_cfg) -> dict:
    """``init_cfg`` for the deprecated ``pretrained=`` argument, as mmdet's
    ``ResNet`` turns it (with a ``DeprecationWarning``)."""
    if not isinstance(pretrained, str):
        raise TypeError(f'pretrained must be a str (a checkpoint) or None, '
                        f'got {pretrained!r}')
    if init_cfg is not DEFAULT_INIT_CFG:
        raise ValueError('init_cfg and pretrained cannot be specified at the '
                         'same time')
    warnings.warn(
        'DeprecationWarning: pretrained is deprecated, please use '
        '"init_cfg" instead', DeprecationWarning)
    return dict(type='Pretrained', checkpoint=pretrained)


class ResidualBackbone(BaseModule):
    """Stages of bottleneck blocks behind a stem, with mmdet's conventions.

    The ImageNet stem (7x7 stride-2 conv, norm, ReLU, 3x3 stride-2 max
    pool), then ``layer1``, ``layer2``, ... of ``arch_settings[depth]``:
    the first block of every stage but the first has stride 2, a projection
    shortcut goes where the shape changes. ``out_indices`` (tuple outputs),
    ``frozen_stages`` (the stem and stages up to it in eval mode with no
    gradient) and ``norm_eval`` as mmdet's ``ResNet``.

    Args:
        depth (int): A key of ``arch_settings``.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Stem output channels. Defaults to 64.
        base_channels (int): Bottleneck width of the first stage; see
            :meth:`stage_width`. Defaults to 64.
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
        frozen_stages (int): Stages (and the stem, from 0 on) kept frozen;
            -1 freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep norm layers in eval mode while training.
            Defaults to False.
        with_cp (bool): Gradient checkpointing in every block.
            Defaults to False.
        zero_init_residual (bool): Zero-init the last norm of every block.
            Defaults to False.
        pretrained (str, optional): Deprecated, as in mmdet's ``ResNet``
            (mmseg's and old configs pass it): a checkpoint to start from,
            turned into ``init_cfg=dict(type='Pretrained', checkpoint=...)``
            with a warning. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to the authors' (Kaiming normal fan-out for convs).
    """

    #: ``{depth: (block class, blocks per stage)}``, set by subclasses.
    arch_settings: Dict[int, Tuple[Type[Bottleneck], Tuple[int, ...]]] = {}
    #: Downsampling of the stem (input side / first stage side).
    stem_stride = 4

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg=DEFAULT_INIT_CFG):
        self.block, self.stage_blocks = self.arch(depth)
        if pretrained is not None:
            init_cfg = pretrained_init_cfg(pretrained, init_cfg)
        super().__init__(init_cfg)
        num_stages = len(self.stage_blocks)
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
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual

        self.relu = nn.ReLU(inplace=True)
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
        """7x7 stride-2 conv and norm (``conv1``, ``norm1``), then, after the
        ReLU, a 3x3 stride-2 max pool (``maxpool``)."""
        self.add_stem_conv(in_channels, stem_channels, kernel_size=7,
                           stride=2)
        self.maxpool = StemMaxPool()

    def add_stem_conv(self, in_channels: int, stem_channels: int,
                      kernel_size: int, stride: int) -> None:
        """``conv1`` (a ``kernel_size`` conv, 'same' padding) and its norm
        ``norm1``: the stem's first layers, for :meth:`_make_stem_layer`."""
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

    def make_shortcut(self, in_channels: int, out_channels: int,
                      stride: int) -> Optional[nn.Module]:
        """1x1 conv + norm projection, None where identity fits."""
        if stride == 1 and in_channels == out_channels:
            return None
        return Sequential(
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
        """Stage ``stage``: ``num_blocks`` blocks of ``self.block``.

        Args:
            stage (int): Index of the stage (0 for ``layer1``).
            in_channels (int): Channels into the stage.
            planes (int): Bottleneck width of its blocks.
            num_blocks (int): Number of blocks.
            block_args (Sequence[dict], optional): Extra keyword arguments
                of each block. Defaults to None.
        """
        out_channels = planes * self.block.expansion
        blocks = []
        for b in range(num_blocks):
            stride = self.strides[stage] if b == 0 else 1
            shortcut_stride = stride if self.block.strided_shortcut else 1
            blocks.append(
                self.block(
                    in_channels,
                    planes,
                    stride=stride,
                    dilation=self.dilations[stage],
                    downsample=self.make_shortcut(in_channels, out_channels,
                                                  shortcut_stride),
                    with_cp=self.with_cp,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    **(block_args[b] if block_args else {})))
            in_channels = out_channels
        return Sequential(*blocks)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.norm1(self.conv1(x))))

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
            frozen += [self.conv1, self.norm1]
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
