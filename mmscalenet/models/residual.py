# Copyright (c) mmscalenet contributors. All rights reserved.
"""Bottleneck blocks and the stage machinery shared by ScaleNet and ResNet."""
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from .pooling import max_pool_tiled
from .sa_block import SABlock
from .sa_geometry import IMAGENET_POOL_FACTORS, pool_window


class Bottleneck(BaseModule):
    """ResNet bottleneck (1x1, 3x3, 1x1), stride on the 3x3 conv.

    Args:
        in_channels (int): Input channels.
        planes (int): Width of the 1x1 and 3x3 convs; the block outputs
            ``planes * expansion`` channels.
        stride (int): Stride of the block. Defaults to 1.
        downsample (nn.Module, optional): Shortcut projection.
            Defaults to None (identity).
        with_cp (bool): Gradient checkpointing of the block body.
            Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    expansion = 4
    #: Whether the shortcut projection carries the block's stride (a
    #: ScaleNet block pools its input for both paths instead).
    strided_shortcut = True

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.planes = planes
        self.stride = stride
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, planes, kernel_size=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        mid_channels = self.build_conv2()
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
        """Build the spatial layer(s) between the 1x1 convs.

        Returns:
            int: Channels they output.
        """
        self.conv2 = build_conv_layer(
            self.conv_cfg,
            self.planes,
            self.planes,
            kernel_size=3,
            stride=self.stride,
            padding=1,
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


class SABottleneck(Bottleneck):
    """Bottleneck whose 3x3 conv is an :class:`SABlock`.

    The stride moves out of the 3x3 conv into a 2x2 max pool of the block's
    input, seen by the main path and the shortcut alike (a map of side 1 is
    kept as it is).

    Args:
        sa_channels (Sequence[int]): Output channels of each scale.
        side (int): Reference side of the block's map (see
            :class:`SABlock`).
        pool_factors (Sequence[int]): Pooling factor of each scale.
            Defaults to (1, 2, 4, 7).
        upsample_mode (str): See :class:`SABlock`. Defaults to ``'auto'``.
        sa_downsample (str): Downsampling inside the SA block, see
            :class:`SABlock`. Defaults to ``'max'``.
        **kwargs: Arguments of :class:`Bottleneck`.
    """

    strided_shortcut = False

    def __init__(self,
                 *args,
                 sa_channels: Sequence[int],
                 side: int,
                 pool_factors: Sequence[int] = IMAGENET_POOL_FACTORS,
                 upsample_mode: str = 'auto',
                 sa_downsample: str = 'max',
                 **kwargs):
        self.sa_cfg = dict(
            out_channels=list(sa_channels),
            pool_factors=pool_factors,
            side=side,
            upsample_mode=upsample_mode,
            downsample=sa_downsample)
        super().__init__(*args, **kwargs)

    def build_conv2(self) -> int:
        self.conv2 = SABlock(
            self.planes,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            **self.sa_cfg)
        return sum(self.conv2.out_channels)

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(x)

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x
        h, w = x.shape[-2:]
        window = (pool_window(h, self.stride), pool_window(w, self.stride))
        return max_pool_tiled(x, window)


class ResidualBackbone(BaseModule):
    """Stages of bottleneck blocks behind a stem, with mmdet's conventions.

    Subclasses build ``self.conv1``/``norm1`` (the stem) and the stages
    ``layer1``, ``layer2``, ... listed in ``self.res_layers``; this class
    gives them ``out_indices`` (tuple outputs), ``frozen_stages`` (the stem
    and stages up to it in eval mode with no gradient) and ``norm_eval``.
    """

    def __init__(self,
                 num_stages: int,
                 out_indices: Sequence[int],
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg)
        if not all(-num_stages <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices {tuple(out_indices)} must be in '
                             f'[0, {num_stages})')
        if frozen_stages > num_stages:
            raise ValueError(f'frozen_stages {frozen_stages} must be at most '
                             f'the number of stages, {num_stages}')
        self.num_stages = num_stages
        self.out_indices = tuple(i % num_stages for i in out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.res_layers = []

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

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

    def make_stages(self,
                    in_channels: int,
                    stage_blocks: Sequence[int],
                    widths: Sequence[int],
                    with_cp: bool,
                    block_args: Callable[[int, int], dict] = None) -> None:
        """Add ``layer1``, ``layer2``, ... of ``self.block`` blocks.

        The first block of every stage but the first has stride 2; a
        projection shortcut goes where the shape changes.
        ``block_args(stage, index)`` gives each block's extra arguments.
        """
        for i, (num_blocks, width) in enumerate(zip(stage_blocks, widths)):
            out_channels = width * self.block.expansion
            blocks = []
            for b in range(num_blocks):
                stride = 2 if i > 0 and b == 0 else 1
                shortcut_stride = stride if self.block.strided_shortcut else 1
                blocks.append(
                    self.block(
                        in_channels,
                        width,
                        stride=stride,
                        downsample=self.make_shortcut(
                            in_channels, out_channels, shortcut_stride),
                        with_cp=with_cp,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=self.norm_cfg,
                        **(block_args(i, b) if block_args else {})))
                in_channels = out_channels
            name = f'layer{i + 1}'
            self.add_module(name, Sequential(*blocks))
            self.res_layers.append(name)
        self.feat_dim = in_channels

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm1(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.forward_stem(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def stem_modules(self) -> list:
        return [self.conv1, self.norm1]

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen += self.stem_modules()
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
