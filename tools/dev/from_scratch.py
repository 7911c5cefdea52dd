# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet-50 against ResNet-50 from scratch in mmdet's stock Faster R-CNN
config (``init_cfg=None``; the stock ``norm_eval=True, frozen_stages=1``):
the largest activation of each stage at initialization, then the losses of
the first iterations on toy COCO, side by side.

The backbones: mmdet's ResNet-50 as the stock config builds it
(``zero_init_residual=True``) and with ``zero_init_residual=False``;
ScaleNet-50 as built by default and with the authors' initialization
(``zero_init_residual=False``).

Example:
    python tools/dev/from_scratch.py --iters 20 --scale 320
"""
import argparse
import math
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmscalenet.apis import unformatted
from mmscalenet.datasets.toy_shapes import make_toy_coco

STOCK = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
BACKBONES = {
    'ResNet-50 (stock: zero_init_residual=True)': dict(type='ResNet'),
    'ResNet-50, zero_init_residual=False': dict(
        type='ResNet', zero_init_residual=False),
    'ScaleNet-50 (default)': dict(type='ScaleNet', structure='scalenet50'),
    "ScaleNet-50, the authors' init (zero_init_residual=False)": dict(
        type='ScaleNet', structure='scalenet50', zero_init_residual=False),
}


def detector_config(backbone: dict, data: str, work_dir: str, iters: int,
                    scale: int) -> Config:
    cfg = Config.fromstring(
        f"_base_ = '{STOCK}'\n"
        "custom_imports = dict(imports=['mmscalenet'], "
        "allow_failed_imports=False)\n", '.py')
    cfg.model.backbone.update(backbone, init_cfg=None)
    cfg.model.roi_head.bbox_head.num_classes = 3
    dataset = cfg.train_dataloader.dataset
    dataset.update(data_root=data + '/',
                   metainfo=dict(classes=('square', 'circle', 'triangle')))
    for step in dataset.pipeline:
        if step.type == 'Resize':
            step.scale = (scale, scale)
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'  # the losses are printed at the end
    return unformatted(cfg)


def stage_maxima(cfg: Config, scale: int) -> list:
    """The largest |activation| of each stage at initialization, in the
    stock config's training mode, on one random normalized image."""
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        backbone = MODELS.build(cfg.model.backbone)
    torch.manual_seed(0)
    backbone.init_weights()
    backbone.train()
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, scale, scale))
    return [o.abs().max().item() for o in outs]


def losses(cfg: Config) -> list:
    runner = Runner.from_cfg(cfg)
    seen = []
    runner.register_hook(_LossRecorder(seen), priority='LOWEST')
    runner.train()
    return seen


class _LossRecorder(Hook):
    """Keeps every iteration's total loss."""

    def __init__(self, seen: list):
        self.seen = seen

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.seen.append(float(outputs['loss']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--scale', type=int, default=320,
                        help='the side the training images are resized to')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.scale < 64:
        sys.exit(f'error: --iters must be at least 1 and --scale at least '
                 f'64, got {args.iters} and {args.scale}')
    with tempfile.TemporaryDirectory() as tmp:
        data = osp.join(tmp, 'toy_coco')
        make_toy_coco(data, train=8, val=2, size=128, seed=0)
        print(f'Faster R-CNN FPN ({STOCK}), init_cfg=None, toy COCO resized '
              f'to {args.scale}x{args.scale}, batch 2, SGD lr 0.02\n')
        print('largest |activation| per stage at init:')
        rows = {}
        for name, backbone in BACKBONES.items():
            cfg = detector_config(backbone, data, osp.join(tmp, 'w'),
                                  args.iters, args.scale)
            maxima = stage_maxima(cfg, args.scale)
            print(f'  {name:58s}' + ''.join(f'{m:10.3g}' for m in maxima))
            rows[name] = losses(cfg)
        print(f'\nloss over the first {args.iters} iterations:')
        for name, seen in rows.items():
            finite = all(math.isfinite(v) for v in seen)
            print(f'  {name:58s} first {seen[0]:.3g}, last {seen[-1]:.3g}, '
                  f'max {max(seen):.3g}, all finite: {finite}')


if __name__ == '__main__':
    main()
