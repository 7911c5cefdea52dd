# Copyright (c) mmscalenet contributors. All rights reserved.
"""The scale aggregation (SA) block (paper section 3.1)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..registry import register_model
from .resnet_settings import spatial_conv_cfg
from .sa_geometry import (IMAGENET_POOL_FACTORS, UPSAMPLE_MODES,
                          check_downsample, downsampled_size,
                          downsamples_by_conv, pool_window,
                          scale_conv_geometry, upsample_is_nearest)


@register_model
class SABlock(BaseModule):
    """Scale aggregation block: a drop-in replacement for a 3x3 conv.

    For every scale ``i`` with ``out_channels[i] > 0``: downsample the input
    by ``pool_factors[i]``, convolve to ``out_channels[i]`` channels,
    upsample back to the input size, normalize; then concatenate the scales
    in order. Scales with no channels have no layers at all. The layer order
    (norm after the upsampling, no activation inside) is the authors', so
    their weights give their outputs. Exact eager rewrites of this order
    are opt-in (:mod:`mmscalenet.rewrites`).

    Args:
        in_channels (int): Input channels.
        out_channels (Sequence[int]): Output channels of each scale.
        pool_factors (Sequence[int]): Downsampling factor of each scale.
            Defaults to (1, 2, 4, 7).
        side (int, optional): Side of the input map at the reference input
            (56 in the first stage at 224x224); fixes each scale's kernel
            (1x1 where the pooled map is one pixel) and, with ``'auto'``,
            its upsampling. None: 3x3 everywhere, upsampling chosen per
            input. Defaults to None.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to
            None (``nn.Conv2d``).
        norm_cfg (dict): Config of the norm layers.
            Defaults to ``dict(type='BN')``.
        upsample_mode (str): ``'auto'`` (the authors' rule at ``side``,
            fixed at build), ``'official'`` (their rule on every input
            shape), ``'nearest'`` or ``'bilinear'``; why:
            docs/model.md. Defaults to ``'auto'``.
        downsample (str): ``'max'``, ``'avg'``, ``'conv'`` or
            ``'dilated_conv'`` (paper Table 8). Defaults to ``'max'``.
        dilation (int): Dilation of every 3x3 conv. Defaults to 1.
        dcn (dict, optional): Conv config making every scale's 3x3 conv
            deformable, as mmdet's ``Bottleneck`` takes it.
            Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Example:
        >>> import torch
        >>> block = SABlock(64, [32, 16, 8, 8], side=32)
        >>> block(torch.rand(1, 64, 32, 32)).shape
        torch.Size([1, 64, 32, 32])
        >>> block(torch.rand(1, 64, 13, 9)).shape
        torch.Size([1, 64, 13, 9])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Sequence[int],
                 pool_factors: Sequence[int] = IMAGENET_POOL_FACTORS,
                 side: Optional[int] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 upsample_mode: str = 'auto',
                 downsample: str = 'max',
                 dilation: int = 1,
                 dcn: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        out_channels = [int(c) for c in out_channels]
        if isinstance(dilation, bool) or not isinstance(
                dilation, int) or dilation < 1:
            raise ValueError(f'dilation must be a positive integer, got '
                             f'{dilation!r}')
        if len(out_channels) != len(pool_factors):
            raise ValueError(
                f'out_channels {out_channels} and pool_factors '
                f'{tuple(pool_factors)} must have the same length')
        if any(c < 0 for c in out_channels) or sum(out_channels) == 0:
            raise ValueError(f'out_channels must be non-negative with at '
                             f'least one channel, got {out_channels}')
        if any(int(f) != f or f < 1 for f in pool_factors):
            raise ValueError(f'pool_factors must be positive integers, got '
                             f'{tuple(pool_factors)}')
        if upsample_mode not in UPSAMPLE_MODES:
            raise ValueError(f'upsample_mode must be one of {UPSAMPLE_MODES}'
                             f', got {upsample_mode!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.pool_factors = tuple(int(f) for f in pool_factors)
        self.side = side
        self.upsample_mode = upsample_mode
        self.downsample = check_downsample(downsample)
        self.dilation = dilation
        #: Indices of the present scales, in concatenation order.
        self.scales: List[int] = [
            i for i, c in enumerate(out_channels) if c > 0
        ]
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        # Per present scale: True = nearest, False = bilinear, None = decide
        # from the input shape at run time.
        self._nearest: Dict[int, Optional[bool]] = {}
        for i in self.scales:
            factor = self.pool_factors[i]
            geometry = scale_conv_geometry(side, i, factor, self.downsample,
                                           dilation)
            self.convs[str(i)] = build_conv_layer(
                spatial_conv_cfg(conv_cfg, dcn, geometry['kernel_size'],
                                 geometry['stride']),
                in_channels,
                out_channels[i],
                bias=False,
                **geometry)
            self.norms[str(i)] = build_norm_layer(norm_cfg, out_channels[i])[1]
            self._nearest[i] = self._fixed_upsampling(factor)
        #: Scales whose conv is mmcv's DCN v1 module (see
        #: :func:`_deform_conv_any_size`).
        self._dcn_v1_scales = {
            i for i in self.scales if dcn is not None
            and _is_dcn_v1(self.convs[str(i)])
        }

    def _fixed_upsampling(self, factor: int) -> Optional[bool]:
        if self.upsample_mode == 'nearest':
            return True
        if self.upsample_mode == 'bilinear':
            return False
        if self.upsample_mode == 'auto' and self.side is not None:
            pooled = downsampled_size(self.side, factor, self.downsample)
            return upsample_is_nearest((self.side, ) * 2, (pooled, ) * 2)
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        outs = [self.forward_scale(x, i, size) for i in self.scales]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def forward_scale(self, x: torch.Tensor, i: int,
                      size: Tuple[int, int]) -> torch.Tensor:
        """Scale ``i``: pool, conv, upsample to ``size``, norm."""
        y = self.conv_scale(i, self.downsample_scale(x, i))
        if tuple(y.shape[-2:]) != size:
            y = self.upsample_scale(y, i, size)
        return self.norms[str(i)](y)

    def downsample_scale(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """``x`` pooled by scale ``i``'s factor (a conv-downsampled block
        strides in its conv instead)."""
        factor = self.pool_factors[i]
        if factor == 1 or downsamples_by_conv(self.downsample):
            return x
        window = (pool_window(x.shape[-2], factor),
                  pool_window(x.shape[-1], factor))
        if self.downsample == 'max':
            return F.max_pool2d(x, window, window)
        return F.avg_pool2d(x, window, window)

    def conv_scale(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Scale ``i``'s conv on its pooled map."""
        if i in self._dcn_v1_scales:
            return _deform_conv_any_size(self.convs[str(i)], x)
        return self.convs[str(i)](x)

    def upsample_scale(self, y: torch.Tensor, i: int,
                       size: Tuple[int, int]) -> torch.Tensor:
        """Scale ``i``'s map ``y`` upsampled to ``size``."""
        nearest = self._nearest[i]
        if nearest is None:
            nearest = upsample_is_nearest(size, y.shape[-2:])
        if nearest:
            return F.interpolate(y, size=size, mode='nearest')
        return F.interpolate(
            y, size=size, mode='bilinear', align_corners=False)

    def switch_to_deploy(self) -> 'SABlock':
        """Fold each scale's norm into its conv, for inference.

        In eval mode a BatchNorm is a per-channel affine map, which commutes
        with nearest and with bilinear upsampling (whose weights sum to 1),
        so the norm after the upsampling becomes a bias of the conv on the
        small map: the same outputs, without normalizing full-size maps.
        """
        for i in self.scales:
            norm = self.norms[str(i)]
            if not isinstance(norm, _BatchNorm):
                raise TypeError(f'switch_to_deploy folds BatchNorm layers, '
                                f'scale {i} has {type(norm).__name__}')
            self.convs[str(i)] = fuse_conv_bn_eval(self.convs[str(i)].eval(),
                                                   norm.eval())
            self.norms[str(i)] = nn.Identity()
        return self.eval()

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, '
                f'out_channels={self.out_channels}, '
                f'pool_factors={self.pool_factors}, side={self.side}, '
                f'upsample_mode={self.upsample_mode!r}, '
                f'downsample={self.downsample!r}, dilation={self.dilation}')


def _is_dcn_v1(conv: nn.Module) -> bool:
    from mmcv.ops import DeformConv2dPack
    return isinstance(conv, DeformConv2dPack)


def _deform_conv_any_size(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for mmcv's DCN v1 module (``type='DCN'``).

    Its op refuses a map smaller than the kernel, which a coarse scale's
    pooled map can be; mmcv's ``DeformConv2d.forward`` zero-pads such a map
    at the bottom and right and crops the output back (the values a padded
    conv sees there anyway), but ``DeformConv2dPack.forward`` skips that
    step: this runs the pack's offsets through the padding forward.
    """
    from mmcv.ops import DeformConv2d
    return DeformConv2d.forward(conv, x, conv.conv_offset(x))
