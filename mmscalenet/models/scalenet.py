# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet backbones: ResNets whose 3x3 convs are SA blocks, and their
block."""
import os.path as osp
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import fuse_conv_bn

from ..errors import ConfigError
from ..registry import register_model
from .bottleneck import Bottleneck
from .channel_padding import pad_deployed_block, widen_published_state
from .channel_spec import ChannelSpec, StructureLike
from .residual import ResidualBackbone
from .resnet_settings import resnet_checkpoint_of
from .sa_block import SABlock
from .sa_geometry import IMAGENET_POOL_FACTORS, pool_window


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

    Example:
        >>> import torch
        >>> block = SABottleneck(64, 16, sa_channels=[8, 4, 4, 4], side=8)
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    strided_shortcut = False
    #: The stride is a max pool of the input: no conv carries it.
    styles = ('pytorch', )

    def __init__(self,
                 *args,
                 sa_channels: Sequence[int],
                 side: int,
                 pool_factors: Sequence[int] = IMAGENET_POOL_FACTORS,
                 upsample_mode: str = 'auto',
                 sa_downsample: str = 'max',
                 **kwargs):
        super().__init__(
            *args,
            conv2_args=dict(
                out_channels=list(sa_channels),
                pool_factors=pool_factors,
                side=side,
                upsample_mode=upsample_mode,
                downsample=sa_downsample),
            **kwargs)

    def build_conv2(self, **sa_args) -> int:
        self.conv2 = SABlock(
            self.planes,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            dilation=self.dilation,
            dcn=self.dcn,
            **sa_args)
        return sum(self.conv2.out_channels)

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(x)

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x
        h, w = x.shape[-2:]
        window = (pool_window(h, self.stride), pool_window(w, self.stride))
        return F.max_pool2d(x, window, window)


@register_model
class ScaleNet(ResidualBackbone):
    """ScaleNet backbone (Li et al., CVPR 2019).

    A ResNet whose every 3x3 conv is an :class:`SABlock`, with the stride of
    each stage moved into a 2x2 max pool of the first block's input. The
    channels of every scale of every block come from ``structure``.

    The SA settings are ScaleNet's; every other argument is
    :class:`ResidualBackbone`'s, and so is the network but for its blocks
    (:meth:`make_res_layer`).

    Dilated ScaleNets (``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``,
    output stride 8, for segmentation): a stride of 1 drops the stage's 2x2
    max pool (main path and shortcut alike), a dilation applies to every 3x3
    conv of the stage's SA blocks; pooling factors are unchanged. Each
    block keeps the reference side of the published layout (strides
    ``(1, 2, 2, 2)``: 56/28/14/7 at 224), which fixes every scale's kernel
    size and nearest/bilinear rule: the authors' weights load unchanged, and
    the stages before the first changed stride compute exactly what the
    undilated net does.

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
        upsample_mode (str): See :class:`SABlock`. Defaults to ``'auto'``.
        sa_downsample (str): Downsampling inside the SA blocks, see
            :class:`SABlock`. Defaults to ``'max'``.
        reference_size (int): Input side at which the structure's sides
            hold (224 for ImageNet). Defaults to 224.
        base_channels (int): Width of the first stage's SA input (the ResNet
            3x3 width); doubles every stage. Defaults to 64.
        channel_multiple (int): Build every scale padded up to a multiple
            of this; the published weights load into it function-preserving
            (docs/model.md, "GPU-shaped channels"). Defaults to 1.
        **kwargs: Every other key of mmdet's, mmpretrain's and mmseg's
            ``ResNet`` (:class:`ResidualBackbone`): ``num_stages``,
            ``strides``, ``dilations``, ``out_indices``, ``frozen_stages``,
            ``conv_cfg``, ``norm_cfg``, ``norm_eval``, ``deep_stem``, ``dcn``
            and ``stage_with_dcn`` (every scale's 3x3 conv deformable),
            ``plugins`` (``'after_conv2'`` is after the SA block),
            ``multi_grid``, ``contract_dilation``, ``with_cp``,
            ``drop_path_rate``, ``zero_init_residual`` (on, as in the
            stock ResNets; off is the authors' initialization),
            ``pretrained`` and ``init_cfg``. ``style='caffe'`` and
            ``avg_down=True`` have no meaning here and are refused in one
            line, as is an ``init_cfg`` that loads a model zoo's ResNet.

    Example:
        >>> import torch
        >>> model = ScaleNet(depth=50, structure='scalenet50').eval()
        >>> outputs = model(torch.rand(1, 3, 32, 32))
        >>> for out in outputs:
        ...     print(tuple(out.shape))
        (1, 256, 8, 8)
        (1, 512, 4, 4)
        (1, 1024, 2, 2)
        (1, 2048, 1, 1)
    """

    arch_settings = {
        50: (SABottleneck, (3, 4, 6, 3)),
        101: (SABottleneck, (3, 4, 23, 3)),
        152: (SABottleneck, (3, 8, 36, 3)),
    }
    #: Structure used when none is given (formatted with the depth).
    default_structure = 'scalenet{depth}'
    unsupported_settings = {
        'style':
        ('pytorch', "'caffe' puts a stage's stride on the first 1x1 conv "
         'of its first block, and ScaleNet strides by a 2x2 max pool of the '
         'block input, not by a conv'),
        'avg_down':
        (False, "ResNet-D's average pool takes the stride of the shortcut's "
         "1x1 conv, and ScaleNet's shortcut has none: it reads the block's "
         '2x2 max-pooled input'),
    }

    def __init__(self,
                 depth: int,
                 structure: Optional[StructureLike] = None,
                 pool_factors: Sequence[int] = IMAGENET_POOL_FACTORS,
                 upsample_mode: str = 'auto',
                 sa_downsample: str = 'max',
                 reference_size: int = 224,
                 base_channels: int = 64,
                 channel_multiple: int = 1,
                 **kwargs):
        # The SA settings and the spec first: make_res_layer, called by
        # ResidualBackbone.__init__, reads them (mmdet's ResNeSt pattern).
        _, stage_blocks = self.arch(depth)
        self.pool_factors = tuple(pool_factors)
        self.upsample_mode = upsample_mode
        self.sa_downsample = sa_downsample
        self.reference_size = reference_size
        side = reference_size // self.stem_stride
        self.sides = [max(1, side // 2**i) for i in range(len(stage_blocks))]
        widths = [base_channels * 2**i for i in range(len(stage_blocks))]
        #: The structure as given; ``spec`` is it padded to
        #: ``channel_multiple``.
        self.published_spec = self.build_spec(structure, depth, stage_blocks,
                                              widths)
        self.channel_multiple = channel_multiple
        self.spec = self.published_spec.padded(channel_multiple) \
            if channel_multiple != 1 else self.published_spec
        super().__init__(depth, base_channels=base_channels, **kwargs)

    def build_spec(self, structure: Optional[StructureLike], depth: int,
                   stage_blocks: Sequence[int],
                   widths: List[int]) -> ChannelSpec:
        """Resolve ``structure`` and check it against the layout."""
        arch = f'{type(self).__name__}-{depth}'
        if structure is None:
            structure = self.default_structure.format(depth=depth)
        if structure == 'seed':
            return ChannelSpec.seed(stage_blocks, widths, self.sides,
                                    len(self.pool_factors))
        if structure == 'even':
            return ChannelSpec.even(stage_blocks, widths, self.sides,
                                    self.pool_factors, 1.0,
                                    self.sa_downsample)
        spec = ChannelSpec.load(structure, num_scales=len(self.pool_factors))
        spec.check_layout(stage_blocks, self.sides, len(self.pool_factors),
                          arch)
        return spec

    def make_res_layer(self, stage: int, in_channels: int, planes: int,
                       num_blocks: int):
        """A stage of :class:`SABottleneck` blocks with the spec's channels
        for each block."""
        first = sum(self.stage_blocks[:stage])
        rows = self.spec.channels[first:first + num_blocks]
        return super().make_res_layer(
            stage,
            in_channels,
            planes,
            num_blocks,
            block_args=[
                dict(
                    sa_channels=row,
                    side=self.sides[stage],
                    pool_factors=self.pool_factors,
                    upsample_mode=self.upsample_mode,
                    sa_downsample=self.sa_downsample) for row in rows
            ])

    def init_weights(self) -> None:
        """Initialize, first refusing (one line) an ``init_cfg`` that loads a
        model zoo's ResNet, as a stock config's backbone inherits it
        (``torchvision://resnet50``): its tensors fit the stem and the 1x1
        convs, not the SA blocks, so ScaleNet would start from neither those
        weights nor its own initialization."""
        checkpoint = resnet_checkpoint_of(self.init_cfg)
        if checkpoint is not None:
            raise ConfigError(
                f'init_cfg loads {checkpoint!r}, a ResNet checkpoint, which '
                f'has no weights for ScaleNet\'s SA blocks: set the '
                f"backbone's init_cfg=dict(type='Pretrained', "
                f"checkpoint='scalenet{self.depth}.pth') (the authors' "
                f'weights, tools/convert_official.py) or init_cfg=None to '
                f'train from scratch (in an mmseg config, also the '
                f"model's pretrained=None)")
        super().init_weights()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Refuse a checkpoint whose tensors do not fit this net's shapes.

        mmengine's ``load_checkpoint`` (``get_model(..., pretrained=...)``,
        ``init_cfg=dict(type='Pretrained')``, ``load_from``) only warns about
        size mismatches and leaves those layers random; for a ScaleNet they
        mean a checkpoint of another depth or structure, so this raises a
        ``ValueError`` naming the first mismatches. A net built with
        ``channel_multiple`` first widens a checkpoint of its unpadded
        structure to its own shapes (function-preserving).
        """
        if self.spec is not self.published_spec:
            own = self.state_dict()
            widen_published_state(
                state_dict, prefix, own, self.published_spec.channels,
                self.spec.channels, [
                    f'{name}.' for name, m in self.named_modules()
                    if isinstance(m, SABottleneck)
                ])
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
                f'{self.depth} with structure {source!r}: {key} has shape '
                f'{list(got)} in the checkpoint but {list(want)} in the '
                f'model{more}; was it saved from another depth or structure?'
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def switch_to_deploy(self, channel_multiple: int = 1) -> 'ScaleNet':
        """Fold every BatchNorm into the conv before it, for inference.

        The SA blocks fold their per-scale norms into the convs on the
        pooled maps (:meth:`SABlock.switch_to_deploy`); mmcv's
        ``fuse_conv_bn`` fuses the rest (stem, 1x1 convs, shortcuts). The
        outputs equal the eval-mode outputs to float precision; the model is
        left in eval mode and is for inference only.

        Args:
            channel_multiple (int): Then pad every scale to a multiple of
                this with zero filters, and the 1x1 conv after it with zero
                input columns (GPU-shaped; the same outputs, more MACs on
                paper). Defaults to 1 (no padding).

        Example:
            >>> model = ScaleNet(50).switch_to_deploy(channel_multiple=8)
            >>> model.layer1[0].conv2.out_channels
            [64, 16, 8, 16]
        """
        if isinstance(channel_multiple, bool) or not isinstance(
                channel_multiple, int) or channel_multiple < 1:
            raise ValueError(f'channel_multiple must be a positive integer, '
                             f'got {channel_multiple!r}')
        for m in self.modules():
            if isinstance(m, SABlock):
                m.switch_to_deploy()
        fuse_conv_bn(self)
        if channel_multiple > 1:
            for m in self.modules():
                if isinstance(m, SABottleneck):
                    pad_deployed_block(m, channel_multiple)
        return self.eval()
