# Copyright (c) mmscalenet contributors. All rights reserved.
"""Convert checkpoints of the authors' ScaleNet release to mmpretrain style.

The authors' file is a plain state_dict (see docs/model.md): ``conv2.I`` and
``bn2.I`` hold scale I of a block's SA layer, ``fc`` the classifier. The
result has ``backbone.*`` keys for :class:`~mmscalenet.ScaleNet` (scale I
under ``conv2.convs.I`` / ``conv2.norms.I``) and ``head.fc.*`` for
mmpretrain's ``LinearClsHead``, so an ``ImageClassifier`` loads it with no
missing or unexpected key, and mmdet loads the backbone with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
Written as safetensors (a ``.safetensors`` destination), the same tensors
under the same names, without a pickle; timm's ScaleNets
(:mod:`mmscalenet.timm`) load either file.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict

import torch

from .checkpoint_integrity import SAFETENSORS_SUFFIX, check_checkpoint_file
from .fileio import atomic_path, sha256_of
from .models import PUBLISHED_VARIANTS, ScaleNet

_SA_KEY = re.compile(r'^(layer\d+\.\d+)\.(conv2|bn2)\.(\d+)\.(.+)$')


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the architecture it is converted for."""


def arch_depth(arch: str) -> int:
    """Depth of the ResNet a shipped structure starts from."""
    if arch not in PUBLISHED_VARIANTS:
        raise ValueError(f'unknown arch {arch!r}, choose from '
                         f'{tuple(PUBLISHED_VARIANTS)}')
    return PUBLISHED_VARIANTS[arch].depth


def expected_shapes(arch: str, num_classes: int = 1000) -> Dict[str, tuple]:
    """Keys and shapes of an mmpretrain ``ImageClassifier`` with this arch."""
    backbone = ScaleNet(arch_depth(arch), arch, out_indices=(3, ))
    shapes = {f'backbone.{k}': tuple(v.shape)
              for k, v in backbone.state_dict().items()}
    shapes['head.fc.weight'] = (num_classes, backbone.feat_dim)
    shapes['head.fc.bias'] = (num_classes, )
    return shapes


def _unwrap(checkpoint) -> Dict[str, torch.Tensor]:
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'expected a state_dict, got {type(checkpoint).__name__}')
    for key in ('state_dict', 'model'):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in checkpoint.items())


def rename_official_key(key: str) -> str:
    """Map one key of the authors' layout to the mmpretrain layout."""
    if key.startswith('fc.'):
        return f'head.{key}'
    match = _SA_KEY.match(key)
    if match:
        block, kind, scale, rest = match.groups()
        kind = 'convs' if kind == 'conv2' else 'norms'
        return f'backbone.{block}.conv2.{kind}.{scale}.{rest}'
    return f'backbone.{key}'


def convert_official_state_dict(checkpoint, arch: str,
                                num_classes: int = 1000) -> OrderedDict:
    """Rename and check every tensor of an authors' checkpoint.

    Args:
        checkpoint (dict): The authors' state_dict (or a dict holding it
            under ``'state_dict'``/``'model'``; ``module.`` prefixes of
            DataParallel are dropped).
        arch (str): One of the shipped structures, e.g. ``'scalenet50'``.
        num_classes (int): Classes of the classifier. Defaults to 1000.

    Returns:
        OrderedDict: The converted state_dict.

    Raises:
        CheckpointMismatchError: Naming the missing and unexpected keys and
            the tensors whose shapes differ from ``arch``.
    """
    state_dict = _unwrap(checkpoint)
    expected = expected_shapes(arch, num_classes)
    converted = OrderedDict(
        (rename_official_key(k), v) for k, v in state_dict.items())
    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs {arch} {expected[k]}'
        for k, v in converted.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    if missing or unexpected or mismatched:
        lines = [f'the checkpoint does not match {arch}:']
        for title, items in (('missing keys', missing),
                             ('unexpected keys', unexpected),
                             ('shape mismatches', mismatched)):
            if items:
                shown = ', '.join(items[:8])
                more = f' (+{len(items) - 8} more)' if len(items) > 8 else ''
                lines.append(f'  {len(items)} {title}: {shown}{more}')
        raise CheckpointMismatchError('\n'.join(lines))
    return converted


def convert_official_checkpoint(src: str, dst: str, arch: str) -> str:
    """Convert the file ``src`` into ``dst``; ``dst`` is written only when
    the whole conversion succeeded (atomically, via a temporary file).

    By the suffix of ``dst``:

    - ``.safetensors``: the converted tensors alone (no pickle), the arch
      and the source in the file's metadata;
    - anything else: a torch checkpoint, ``dict(state_dict=..., meta=...)``.

    Both hold the same tensors under the same names (mmpretrain's:
    ``backbone.*``, ``head.fc.*``), so the same ``init_cfg`` or
    ``load_from`` takes either; timm's ScaleNets drop the prefixes when
    they load (:func:`mmscalenet.timm.checkpoint_filter_fn`).

    Returns:
        str: The SHA-256 of the written file (hex).

    Example:
        >>> convert_official_checkpoint(  # doctest: +SKIP
        ...     'scalenet50.pth', 'scalenet50.safetensors', 'scalenet50')
        '3f5a...'
    """
    check_checkpoint_file(src)
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except Exception as e:  # zip, pickle and weights-only errors alike
        reason = str(e).strip().splitlines()[0][:100] if str(e).strip() \
            else ''
        raise CheckpointMismatchError(
            f'{src} is not a PyTorch checkpoint torch.load can read safely '
            f'({type(e).__name__}{": " + reason if reason else ""})'
        ) from None
    state_dict = convert_official_state_dict(checkpoint, arch)
    meta = dict(
        arch=arch,
        converted_from=osp.abspath(src),
        source_layout='official')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    with atomic_path(dst) as tmp:
        if dst.endswith(SAFETENSORS_SUFFIX):
            from safetensors.torch import save_file
            save_file({k: v.contiguous()
                       for k, v in state_dict.items()},
                      tmp,
                      metadata=dict(meta, format='pt'))
        else:
            torch.save(dict(state_dict=state_dict, meta=meta), tmp)
    return sha256_of(dst)
