# Copyright (c) mmscalenet contributors. All rights reserved.
"""ResNet's constructor settings, checked and turned into per-stage and
per-block values for :class:`~mmscalenet.models.residual.ResidualBackbone`.

A stock MMDetection, MMPretrain or MMSegmentation config passes its
backbone every key of its ``ResNet``; a child config that sets only
``type='ScaleNet'`` inherits them. Each key is honoured here with ResNet's
meaning, or refused in one line that names the key, its value and what to
write instead (:func:`refuse_unsupported`).
"""
import re
import warnings
from typing import Any, List, Mapping, Optional, Sequence, Tuple

#: Default initialization: the authors' (normal, std sqrt(2 / (k*k*out)))
#: for convs, weight 1 and bias 0 for norms. ``init_cfg=None`` means it, as
#: ``init_cfg=None`` means Kaiming in mmdet's ``ResNet``.
DEFAULT_INIT_CFG = [
    dict(
        type='Kaiming',
        layer='Conv2d',
        mode='fan_out',
        nonlinearity='relu',
        distribution='normal'),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]

#: Where a plugin can sit in a bottleneck (mmdet's ``Bottleneck``).
PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')

#: Model-zoo checkpoints of ResNets (torchvision's, OpenMMLab's,
#: detectron's): what a stock config's ``init_cfg`` or ``pretrained`` loads.
_RESNET_ZOO = re.compile(
    r'^(torchvision|open-mmlab|mmcls|mmpretrain|https?)://\S*?'
    r'(resnet|resnext|resnest|res2net)', re.IGNORECASE)


def refuse_unsupported(owner: str, settings: Mapping[str, Any],
                       unsupported: Mapping[str, Tuple[Any, str]]) -> None:
    """Raise a one-line ``ValueError`` for a setting the backbone cannot
    honour.

    Args:
        owner (str): The backbone's name, for the message.
        settings (Mapping[str, Any]): The settings as given.
        unsupported (Mapping[str, tuple]): ``{key: (the value the backbone
            has anyway, why another one has no meaning for it)}``. That
            value is accepted silently.

    Example:
        >>> refuse_unsupported('ScaleNet', dict(avg_down=True),
        ...                    dict(avg_down=(False, 'no strided shortcut')))
        Traceback (most recent call last):
        ...
        ValueError: ScaleNet does not take avg_down=True: no strided shortcut; use avg_down=False (or leave the key out)
    """  # noqa: E501
    for key, (accepted, why) in unsupported.items():
        value = settings.get(key, accepted)
        if value != accepted:
            raise ValueError(f'{owner} does not take {key}={value!r}: {why}; '
                             f'use {key}={accepted!r} (or leave the key out)')


def stage_strides_and_dilations(
        num_stages: int, strides: Optional[Sequence[int]],
        dilations: Optional[Sequence[int]]) -> Tuple[tuple, tuple]:
    """Checked ``strides`` and ``dilations`` of a backbone's stages (the
    defaults where None); a ``ValueError`` names a bad value.

    Example:
        >>> stage_strides_and_dilations(4, (1, 2, 1, 1), (1, 1, 2, 4))
        ((1, 2, 1, 1), (1, 1, 2, 4))
    """
    strides = (1, ) + (2, ) * (num_stages - 1) if strides is None else tuple(
        strides)
    dilations = (1, ) * num_stages if dilations is None else tuple(dilations)
    for name, values in (('strides', strides), ('dilations', dilations)):
        if len(values) != num_stages:
            raise ValueError(f'{name} needs one value per stage '
                             f'(num_stages={num_stages}), got {values}')
    if any(s not in (1, 2) or isinstance(s, bool) for s in strides):
        raise ValueError(f'strides must be 1 or 2 (the 2x2 max pool at a '
                         f'stage\'s start, or none), got {strides}')
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1
           for d in dilations):
        raise ValueError(f'dilations must be positive integers, got '
                         f'{dilations}')
    return strides, dilations


def check_num_stages(num_stages: Optional[int], available: int) -> int:
    """``num_stages`` checked against the stages a depth has (None: all).

    Example:
        >>> check_num_stages(None, 4), check_num_stages(3, 4)
        (4, 3)
    """
    if num_stages is None:
        return available
    if isinstance(num_stages, bool) or not isinstance(
            num_stages, int) or not 1 <= num_stages <= available:
        raise ValueError(f'num_stages={num_stages!r} must be an integer from '
                         f'1 to {available}, the stages of this depth')
    return num_stages


def block_dilations(dilation: int,
                    num_blocks: int,
                    multi_grid: Optional[Sequence[int]] = None,
                    contract_dilation: bool = False) -> List[int]:
    """The dilation of every block of a stage, as mmseg's ``ResLayer`` sets
    them.

    Args:
        dilation (int): The stage's dilation.
        num_blocks (int): Blocks in the stage.
        multi_grid (Sequence[int], optional): One dilation per block, used
            as given (mmseg applies it to the last stage). Defaults to None.
        contract_dilation (bool): Halve the first block's dilation where the
            stage's is above 1. Defaults to False.

    Example:
        >>> block_dilations(4, 3, contract_dilation=True)
        [2, 4, 4]
        >>> block_dilations(4, 3, multi_grid=(1, 2, 4))
        [1, 2, 4]
    """
    if multi_grid is not None:
        multi_grid = tuple(multi_grid)
        if len(multi_grid) != num_blocks or any(
                isinstance(d, bool) or not isinstance(d, int) or d < 1
                for d in multi_grid):
            raise ValueError(f'multi_grid={multi_grid} needs one positive '
                             f'integer per block of the last stage '
                             f'({num_blocks})')
        return list(multi_grid)
    first = dilation // 2 if contract_dilation and dilation > 1 else dilation
    return [first] + [dilation] * (num_blocks - 1)


def drop_path_rates(rate: float,
                    stage_blocks: Sequence[int]) -> List[List[float]]:
    """Stochastic depth per block, from 0 at the first block up to ``rate``
    at the last, split by stage (mmpretrain's ``ResNet``).

    Example:
        >>> drop_path_rates(0.3, (2, 2))
        [[0.0, 0.1], [0.2, 0.3]]
    """
    if isinstance(rate, bool) or not isinstance(rate,
                                                (int, float)) or not \
            0 <= rate < 1:
        raise ValueError(f'drop_path_rate={rate!r} must be a number in '
                         f'[0, 1)')
    total = sum(stage_blocks)
    rates = [rate * i / (total - 1) if total > 1 else 0.0
             for i in range(total)]
    out, start = [], 0
    for n in stage_blocks:
        out.append([round(r, 12) for r in rates[start:start + n]])
        start += n
    return out


def stage_plugins(plugins: Optional[Sequence[dict]], stage: int,
                  num_stages: int) -> List[dict]:
    """The plugins of stage ``stage`` (mmdet's ``make_stage_plugins``): each
    ``dict(cfg=..., position=..., stages=...)`` whose ``stages`` is None or
    true at ``stage``, without its ``stages``.

    Example:
        >>> gc = dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
        ...           stages=(False, True), position='after_conv3')
        >>> stage_plugins([gc], 0, 2), len(stage_plugins([gc], 1, 2))
        ([], 1)
    """
    selected = []
    for plugin in plugins or ():
        if not isinstance(plugin, Mapping) or 'cfg' not in plugin or \
                plugin.get('position') not in PLUGIN_POSITIONS:
            raise ValueError(f'a plugin is dict(cfg=..., position=..., '
                             f'stages=...) with position one of '
                             f'{PLUGIN_POSITIONS}, got {plugin!r}')
        plugin = dict(plugin)
        stages = plugin.pop('stages', None)
        if stages is not None and len(stages) != num_stages:
            raise ValueError(f'plugin stages={tuple(stages)} needs one flag '
                             f'per stage (num_stages={num_stages})')
        if stages is None or stages[stage]:
            selected.append(plugin)
    return selected


def check_dcn(dcn: Optional[dict], stage_with_dcn: Optional[Sequence[bool]],
              conv_cfg: Optional[dict], num_stages: int) -> Tuple[bool, ...]:
    """The stages whose 3x3 convs are deformable (mmdet's checks and
    default: none without ``stage_with_dcn``).

    Example:
        >>> check_dcn(dict(type='DCNv2'), (False, True), None, 2)
        (False, True)
    """
    if dcn is None:
        return (False, ) * num_stages
    if not isinstance(dcn, Mapping) or 'type' not in dcn:
        raise ValueError(f'dcn must be a conv config such as '
                         f"dict(type='DCNv2', deform_groups=1), got {dcn!r}")
    if conv_cfg is not None:
        raise ValueError(f'conv_cfg={conv_cfg!r} and dcn={dict(dcn)!r} '
                         f'both set the 3x3 convs: use one (conv_cfg=None '
                         f'with dcn, as mmdet requires)')
    stage_with_dcn = (False, ) * num_stages if stage_with_dcn is None \
        else tuple(stage_with_dcn)
    if len(stage_with_dcn) != num_stages:
        raise ValueError(f'stage_with_dcn={stage_with_dcn} needs one flag per '
                         f'stage (num_stages={num_stages})')
    return stage_with_dcn


def spatial_conv_cfg(conv_cfg: Optional[dict], dcn: Optional[dict],
                     kernel_size: int, stride: int) -> Optional[dict]:
    """The conv config of a block's spatial conv: ``dcn`` (less its
    ``fallback_on_stride``) for a conv with a kernel above 1, unless the conv
    strides and ``fallback_on_stride`` keeps it plain; ``conv_cfg``
    otherwise (1x1 convs, no ``dcn``).

    Example:
        >>> dcn = dict(type='DCNv2', deform_groups=1, fallback_on_stride=True)
        >>> spatial_conv_cfg(None, dcn, 3, 1)
        {'type': 'DCNv2', 'deform_groups': 1}
        >>> spatial_conv_cfg(None, dcn, 3, 2) is None
        True
    """
    if dcn is None or kernel_size == 1:
        return conv_cfg
    dcn = dict(dcn)
    if dcn.pop('fallback_on_stride', False) and stride > 1:
        return conv_cfg
    return dcn


def pretrained_init_cfg(pretrained: str, init_cfg) -> dict:
    """``init_cfg`` for the deprecated ``pretrained=`` argument, as mmdet's
    ``ResNet`` turns it (with a ``DeprecationWarning``)."""
    if not isinstance(pretrained, str):
        raise TypeError(f'pretrained must be a str (a checkpoint) or None, '
                        f'got {pretrained!r}')
    if init_cfg is not None:
        raise ValueError('init_cfg and pretrained cannot be specified at the '
                         'same time')
    warnings.warn(
        'DeprecationWarning: pretrained is deprecated, please use '
        '"init_cfg" instead', DeprecationWarning)
    return dict(type='Pretrained', checkpoint=pretrained)


def resnet_checkpoint_of(init_cfg) -> Optional[str]:
    """The checkpoint ``init_cfg`` loads where it is a model zoo's ResNet
    (a stock config's ``torchvision://resnet50``), else None.

    Example:
        >>> resnet_checkpoint_of(
        ...     dict(type='Pretrained', checkpoint='torchvision://resnet50'))
        'torchvision://resnet50'
        >>> resnet_checkpoint_of(
        ...     dict(type='Pretrained', checkpoint='scalenet50.pth')) is None
        True
    """
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained':
            checkpoint = cfg.get('checkpoint')
            if isinstance(checkpoint, str) and _RESNET_ZOO.search(checkpoint):
                return checkpoint
    return None
