# Copyright (c) mmscalenet contributors. All rights reserved.
"""Convert a checkpoint of the authors' ScaleNet release.

Writes an mmpretrain-style checkpoint (``backbone.*``, ``head.fc.*``) that
``configs/_base_/models/<arch>.py`` loads with no missing or unexpected key,
and whose backbone mmdet loads with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
A DST ending in ``.safetensors`` gets the tensors alone, in the backbone's
own names: timm's ScaleNets load it (``import mmscalenet.timm``;
``pretrained=True, pretrained_cfg_overlay=dict(file=DST)``) and so does a
backbone's ``init_cfg=dict(type='Pretrained', checkpoint=DST)``.
DST is written only when the whole conversion succeeded; its SHA-256 is
printed last, in ``sha256sum``'s format (``sha256sum -c`` checks it).

Example:
    python tools/convert_official.py scalenet50.pth \
        checkpoints/scalenet50_official.pth --arch scalenet50
    python tools/convert_official.py scalenet50.pth \
        ~/.cache/mmscalenet/weights/scalenet50_authors_in1k.safetensors \
        --arch scalenet50
"""
import argparse
import sys

from mmscalenet.checkpoint_integrity import CorruptCheckpointError
from mmscalenet.converters import (CheckpointMismatchError,
                                   convert_official_checkpoint)
from mmscalenet.models import STRUCTURE_NAMES


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an authors\' ScaleNet checkpoint to mmpretrain '
        'style')
    parser.add_argument('src', help='checkpoint in the authors\' layout')
    parser.add_argument(
        'dst',
        help='where to write the converted checkpoint (.safetensors: '
        'tensors only, timm\'s layout)')
    parser.add_argument(
        '--arch',
        required=True,
        choices=STRUCTURE_NAMES,
        help='architecture (structure) of the checkpoint')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        sha256 = convert_official_checkpoint(args.src, args.dst, args.arch)
    except (CheckpointMismatchError, CorruptCheckpointError,
            FileNotFoundError, ImportError) as e:
        sys.exit(f'convert_official: {e}')
    except OSError as e:  # a folder on the way is a file, no permission
        sys.exit(f'convert_official: cannot write {args.dst}: {e}')
    print(f'converted {args.src} ({args.arch}) -> {args.dst}')
    print(f'{sha256}  {args.dst}')


if __name__ == '__main__':
    main()
