# Copyright (c) mmscalenet contributors. All rights reserved.
"""The ResNet bottleneck block that ScaleNet's SA bottleneck and the CIFAR
ResNet build on, with mmdet's and mmpretrain's block options."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from .resnet_settings import PLUGIN_POSITIONS, spatial_conv_cfg


class Bottleneck(BaseModule):
    """ResNet bottleneck (1x1, 3x3, 1x1), with mmdet's and mmpretrain's
    options: the stride on the 3x3 conv (``style='pytorch'``) or on the
    first 1x1 conv (``'caffe'``), a deformable 3x3 conv (``dcn``), plugins
    after each conv (``plugins``) and stochastic depth (``drop_path_rate``).

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
        style (str): ``'pytorch'`` or ``'caffe'``, as in mmdet's
            ``Bottleneck``. Defaults to ``'pytorch'``.
        with_cp (bool): Gradient checkpointing of the block body.
            Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        dcn (dict, optional): Conv config of a deformable 3x3 conv, e.g.
            ``dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)``
            (``fallback_on_stride=True`` keeps a strided conv plain).
            Defaults to None.
        plugins (list[dict], optional): ``dict(cfg=..., position=...)`` per
            plugin, position ``'after_conv1'``, ``'after_conv2'`` or
            ``'after_conv3'`` (built by mmcv's ``build_plugin_layer``).
            Defaults to None.
        drop_path_rate (float): Probability of dropping the residual branch
            of a sample in training. Defaults to 0.
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
    #: The ``style`` s the block takes.
    styles = ('pytorch', 'caffe')

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 drop_path_rate: float = 0.0,
                 conv2_args: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        if style not in self.styles:
            raise ValueError(f'{type(self).__name__} takes style in '
                             f'{self.styles}, got {style!r}')
        self.in_channels = in_channels
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.dcn = dcn
        self.conv1 = build_conv_layer(
            conv_cfg,
            in_channels,
            planes,
            kernel_size=1,
            stride=stride if style == 'caffe' else 1,
            bias=False)
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
        plugins = list(plugins or ())
        #: Names of the plugin modules run after each conv, by position.
        self.plugin_names = {
            position: self.make_block_plugins(
                channels, [p['cfg'] for p in plugins
                           if p['position'] == position])
            for position, channels in zip(PLUGIN_POSITIONS, (
                planes, mid_channels, planes * self.expansion))
        }
        self.drop_path = DropPath(drop_path_rate) \
            if drop_path_rate > 0 else nn.Identity()

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
        stride = 1 if self.style == 'caffe' else self.stride
        self.conv2 = build_conv_layer(
            spatial_conv_cfg(self.conv_cfg, self.dcn, 3, stride),
            self.planes,
            self.planes,
            kernel_size=3,
            stride=stride,
            padding=self.dilation,
            dilation=self.dilation,
            bias=False)
        self.norm2_name, norm2 = build_norm_layer(
            self.norm_cfg, self.planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        return self.planes

    def make_block_plugins(self, in_channels: int,
                           cfgs: Sequence[dict]) -> List[str]:
        """Build the plugins ``cfgs`` on ``in_channels`` channels as
        submodules (mmdet's ``Bottleneck.make_block_plugins``); their
        names.

        Each runs once on a 4x4 map of zeros as it is built: a plugin that
        cannot take the width (mmcv's ``GeneralizedAttention`` wants a
        multiple of 4, and an SA block's widths are its structure's) is
        refused in one line here, not by a shape error in training.
        """
        names = []
        for cfg in cfgs:
            cfg = dict(cfg)
            name, layer = build_plugin_layer(
                cfg, in_channels=in_channels, postfix=cfg.pop('postfix', ''))
            if hasattr(self, name):
                raise ValueError(f'duplicate plugin {name!r} in one block: '
                                 f"give each a distinct 'postfix'")
            try:
                with torch.no_grad():
                    layer.train(False)(torch.zeros(1, in_channels, 4, 4))
            except RuntimeError as e:
                reason = str(e).splitlines()[0]
                raise ValueError(
                    f'plugin {cfg} does not run on the {in_channels} '
                    f'channels it gets in this block ({reason}); for an SA '
                    f'block\'s output (after_conv2) build the backbone with '
                    f'channel_multiple=8, which pads every scale to a '
                    f'multiple of 8') from None
            self.add_module(name, layer.train())
            names.append(name)
        return names

    def forward_plugins(self, x: torch.Tensor, position: str) -> torch.Tensor:
        for name in self.plugin_names[position]:
            x = getattr(self, name)(x)
        return x

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.norm2_name)(self.conv2(x))

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the block does to its input before both paths."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x):
            x = self.forward_input(x)
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.forward_plugins(out, 'after_conv1')
            out = self.relu(self.forward_conv2(out))
            out = self.forward_plugins(out, 'after_conv2')
            out = self.norm3(self.conv3(out))
            out = self.forward_plugins(out, 'after_conv3')
            identity = x if self.downsample is None else self.downsample(x)
            out = self.drop_path(out)
            out += identity
            return out

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.relu(out)
