# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet backbones: ResNets whose 3x3 convs are SA blocks."""
import os.path as osp
from typing import List, Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer, fuse_conv_bn

from ..registry import register_model
from .channel_spec import ChannelSpec, StructureLike
from .pooling import StemMaxPool
from .residual import DEFAULT_INIT_CFG, ResidualBackbone, SABottleneck
from .sa_block import SABlock
from .sa_geometry import IMAGENET_POOL_FACTORS


@register_model
class ScaleNet(ResidualBackbone):
    """ScaleNet backbone (Li et al., CVPR 2019).

    A ResNet whose every 3x3 conv is an :class:`SABlock`, with the stride of
    each stage moved into a 2x2 max pool of the first block's input. The
    channels of every scale of every block come from ``structure``.

    Args:
        depth (int): Depth of the ResNet it starts from: 50, 101 or 152.
        structure (str | list | ChannelSpec, optional): The channel spec: a
            shipped structure (``'scalenet50'``, ``'scalenet50_light'``,
            ``'scalenet101'``, ``'scalenet152'``: the authors' learned
            allocations), ``'seed'`` (the allocation seed: C channels at
            every scale, C the ResNet 3x3 width), ``'even'`` (equal channels
            per scale at the ResNet 3x3 FLOPs), a path to a JSON spec, or
            the rows inline (``[C_1, ..., C_L, side]`` per block). None
            means ``f'scalenet{depth}'``. Defaults to None.
        pool_factors (Sequence[int]): Pooling factor of each scale; their
            number is the number of scales L. Defaults to (1, 2, 4, 7).
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Stem output channels. Defaults to 64.
        base_channels (int): Width of the first stage's SA input (the ResNet
            3x3 width); doubles every stage. Defaults to 64.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): Stages (and the stem, from 0 on) kept frozen;
            -1 freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep norm layers in eval mode while training.
            Defaults to False.
        upsample_mode (str): See :class:`SABlock`. Defaults to ``'auto'``.
        sa_downsample (str): Downsampling inside the SA blocks, see
            :class:`SABlock`. Defaults to ``'max'``.
        with_cp (bool): Gradient checkpointing in every block.
            Defaults to False.
        zero_init_residual (bool): Zero-init the last norm of every block.
            Off by default, as in the paper. Defaults to False.
        reference_size (int): Input side at which the structure's sides
            hold (224 for ImageNet). Defaults to 224.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to the authors' (Kaiming normal fan-out for convs).

    Example:
        >>> import torch
        >>> model = ScaleNet(depth=50, structure='scalenet50')
        >>> outputs = model(torch.rand(1, 3, 32, 32))
        >>> for out in outputs:
        ...     print(tuple(out.shape))
        (1, 256, 8, 8)
        (1, 512, 4, 4)
        (1, 1024, 2, 2)
        (1, 2048, 1, 1)
    """

    arch_settings = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
    block = SABottleneck
    #: Downsampling of the stem (input side / first stage side).
    stem_stride = 4
    #: Structure used when none is given (formatted with the depth).
    default_structure = 'scalenet{depth}'

    def __init__(self,
                 depth: int,
                 structure: Optional[StructureLike] = None,
                 pool_factors: Sequence[int] = IMAGENET_POOL_FACTORS,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 upsample_mode: str = 'auto',
                 sa_downsample: str = 'max',
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 reference_size: int = 224,
                 init_cfg=DEFAULT_INIT_CFG):
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for {type(self).__name__}'
                           f', choose from {sorted(self.arch_settings)}')
        self.stage_blocks = self.arch_settings[depth]
        super().__init__(
            num_stages=len(self.stage_blocks),
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg)
        self.depth = depth
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.pool_factors = tuple(pool_factors)
        self.sa_downsample = sa_downsample
        self.reference_size = reference_size
        widths = [base_channels * 2**i for i in range(self.num_stages)]
        side = reference_size // self.stem_stride
        sides = [max(1, side // 2**i) for i in range(self.num_stages)]
        self.spec = self.build_spec(structure, widths, sides)

        self.relu = nn.ReLU(inplace=True)
        self.build_stem(in_channels, stem_channels)
        rows = iter(self.spec.channels)
        self.make_stages(
            stem_channels, self.stage_blocks, widths, with_cp,
            lambda stage, index: dict(
                sa_channels=next(rows),
                side=sides[stage],
                pool_factors=self.pool_factors,
                upsample_mode=upsample_mode,
                sa_downsample=sa_downsample))
        self._freeze_stages()

    def build_spec(self, structure: Optional[StructureLike],
                   widths: List[int], sides: List[int]) -> ChannelSpec:
        """Resolve ``structure`` and check it against the layout."""
        arch = f'{type(self).__name__}-{self.depth}'
        if structure is None:
            structure = self.default_structure.format(depth=self.depth)
        if structure == 'seed':
            return ChannelSpec.seed(self.stage_blocks, widths, sides,
                                    len(self.pool_factors))
        if structure == 'even':
            return ChannelSpec.even(self.stage_blocks, widths, sides,
                                    self.pool_factors, 1.0,
                                    self.sa_downsample)
        spec = ChannelSpec.load(structure, num_scales=len(self.pool_factors))
        spec.check_layout(self.stage_blocks, sides, len(self.pool_factors),
                          arch)
        return spec

    def build_stem(self, in_channels: int, stem_channels: int) -> None:
        """7x7 stride-2 conv, norm, ReLU, then 3x3 stride-2 max pool."""
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            in_channels,
            stem_channels,
            kernel_size=7,
            stride=2,
            padding=3,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.maxpool = StemMaxPool()

    def forward_stem(self, x):
        return self.maxpool(super().forward_stem(x))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Refuse a checkpoint whose tensors do not fit this net's shapes.

        mmengine's ``load_checkpoint`` (``get_model(..., pretrained=...)``,
        ``init_cfg=dict(type='Pretrained')``, ``load_from``) only warns about
        size mismatches and leaves those layers random; for a ScaleNet they
        mean a checkpoint of another depth or structure, so this raises a
        ``ValueError`` naming the first mismatches.
        """
        own = {
            prefix + key: tuple(value.shape)
            for key, value in self.state_dict().items()
        }
        mismatched = [(key, tuple(value.shape), own[key])
                      for key, value in state_dict.items()
                      if key in own and hasattr(value, 'shape')
                      and tuple(value.shape) != own[key]]
        if mismatched:
            key, got, want = mismatched[0]
            source = self.spec.meta.get('source', self.spec.meta.get('kind'))
            if isinstance(source, str) and source.endswith('.json'):
                source = osp.splitext(osp.basename(source))[0]
            more = (f' (and {len(mismatched) - 1} more tensors)'
                    if len(mismatched) > 1 else '')
            raise ValueError(
                f'the checkpoint does not fit {type(self).__name__}-'
                f'{self.depth} with structure {source!r}: {key} has shape {list(got)} in the checkpoint but '
                f'{list(want)} in the model{more}; was it saved from another '
                f'depth or structure?')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def switch_to_deploy(self) -> 'ScaleNet':
        """Fold every BatchNorm into the conv before it, for inference.

        The SA blocks fold their per-scale norms into the convs on the
        pooled maps (:meth:`SABlock.switch_to_deploy`); mmcv's
        ``fuse_conv_bn`` fuses the rest (stem, 1x1 convs, shortcuts). The
        outputs equal the eval-mode outputs to float precision; the model is
        left in eval mode and is for inference only.
        """
        for m in self.modules():
            if isinstance(m, SABlock):
                m.switch_to_deploy()
        fuse_conv_bn(self)
        return self.eval()
