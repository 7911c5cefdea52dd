# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet in stock MMDetection, MMPretrain and MMSegmentation configs, the
way mmdet's Res2Net configs are written: inherit the installed config and
override only the backbone's type and structure. Each builds and runs on
one image; one trains with mmdet's own training entry."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from helpers import run_main
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmscalenet.datasets.toy_shapes import make_toy_coco

SHORT_FORM = """
_base_ = '{base}'
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
model = dict(backbone=dict(type='ScaleNet', depth=50, structure='scalenet50'))
"""

#: ``(package, config as installed, what the backbone inherits from it)``.
STOCK = [
    ('mmdet', 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'ResNet'),
    ('mmdet', 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'ResNet'),
    ('mmdet', 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py', 'ResNet'),
    ('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py', 'ResNet'),
    ('mmdet', 'fcos/fcos_r50_fpn_gn-head-center-normbbox-centeronreg-giou_'
     '8xb8-amp-lsj-200e_coco.py', 'ResNet'),
    ('mmdet', 'dcn/faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py', 'DCN'),
    ('mmdet', 'gcnet/mask-rcnn_r50-gcb-r16-c3-c5_fpn_1x_coco.py',
     'ContextBlock'),
    ('mmpretrain', 'resnet/resnet50_8xb32_in1k.py', 'ResNet'),
    ('mmseg', 'pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
     'ResNetV1c'),
    ('mmseg', 'deeplabv3/deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024.py',
     'ResNetV1c'),
]
IDS = [osp.basename(path)[:-3] for _, path, _ in STOCK]


def installed_config(package: str, path: str) -> str:
    module = __import__(package)
    full = osp.join(osp.dirname(module.__file__), '.mim', 'configs', path)
    assert osp.isfile(full), full
    return full


def short_form(tmp_path, package, path) -> Config:
    config = tmp_path / 'scalenet_short_form.py'
    config.write_text(SHORT_FORM.format(base=f'{package}::{path}'))
    return Config.fromfile(str(config))


def build(cfg, scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg.model)


def image(h=160, w=224):
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, (3, h, w),
                                         dtype=np.uint8)).float()


def predict_detector(model):
    from mmdet.structures import DetDataSample
    h, w = 160, 224
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
        pad_shape=(h, w), batch_input_shape=(h, w)))
    data = model.data_preprocessor(
        dict(inputs=[image(h, w)], data_samples=[sample]), False)
    return model(**data, mode='predict')[0].pred_instances


def predict_segmentor(model):
    from mmseg.structures import SegDataSample
    h, w = 128, 256
    sample = SegDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
        scale_factor=(1.0, 1.0), padding_size=[0, 0, 0, 0]))
    data = model.data_preprocessor(
        dict(inputs=[image(h, w)], data_samples=[sample]), False)
    return model(**data, mode='predict')[0].pred_sem_seg.data


@pytest.mark.parametrize('package,path,inherits', STOCK, ids=IDS)
def test_a_stock_config_takes_scalenet_by_type_and_structure_alone(
        package, path, inherits, tmp_path):
    installed_config(package, path)
    cfg = short_form(tmp_path, package, path)
    backbone = cfg.model.backbone
    assert backbone.type == 'ScaleNet' and '_delete_' not in backbone
    # The ResNet keys the backbone inherits, which ScaleNet must take.
    assert backbone.num_stages == 4 and backbone.style == 'pytorch'
    if inherits == 'DCN':
        assert backbone.dcn.type == 'DCN'
    if inherits == 'ContextBlock':
        assert backbone.plugins[0].cfg.type == 'ContextBlock'
    if inherits == 'ResNetV1c':
        assert backbone.contract_dilation
        assert backbone.strides == (1, 2, 1, 1)
    model = build(cfg, package).eval()
    assert type(model.backbone).__name__ == 'ScaleNet'
    with torch.no_grad():
        if package == 'mmdet':
            instances = predict_detector(model)
            assert instances.bboxes.shape[-1] == 4
        elif package == 'mmseg':
            assert model.backbone.layer4[2].conv2.dilation == 4
            assert predict_segmentor(model).shape == (1, 128, 256)
        else:
            scores = model(image()[None], mode='predict')[0].pred_score
            assert scores.shape == (1000, ) and torch.isfinite(scores).all()
    if inherits == 'DCN':
        from mmcv.ops import DeformConv2dPack
        assert isinstance(model.backbone.layer2[0].conv2.convs['0'],
                          DeformConv2dPack)
    if inherits == 'ContextBlock':
        block = model.backbone.layer3[0]
        assert block.plugin_names['after_conv3'] == ['context_block']
    # The ResNet weights the stock config would load are refused in one
    # line before any is read (mmseg's come through its pretrained=);
    # mmpretrain's config loads none.
    if package == 'mmpretrain':
        assert 'checkpoint' not in str(backbone)
        model.backbone.init_weights()
    else:
        with pytest.raises(ValueError, match='a ResNet checkpoint'):
            model.backbone.init_weights()


def test_a_caffe_style_stock_config_is_refused_in_one_line(tmp_path):
    cfg = short_form(tmp_path, 'mmdet',
                     'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py')
    with pytest.raises(ValueError) as e:
        build(cfg, 'mmdet')
    # mmengine's registry prefixes the class; the reason stays one line.
    message = str(e.value).splitlines()[-1]
    assert "style='caffe'" in message and "use style='pytorch'" in message


@pytest.mark.slow
def test_mmdets_own_train_entry_trains_the_short_form(tmp_path):
    """mmdet's ``tools/train.py`` on toy COCO with the stock Faster R-CNN
    config and the short form (in this process). First as written: it ends
    before the first iteration, since the inherited
    ``torchvision://resnet50`` cannot initialize a ScaleNet; then with
    ``init_cfg=None``: from scratch, under the stock frozen norms, 6
    iterations with finite, falling losses (the images kept at their
    128x128 and the warm-up started at a tenth of the rate, not the stock
    thousandth, to keep it short)."""
    import mmdet
    data = tmp_path / 'toy_coco'
    make_toy_coco(str(data), train=4, val=2, size=128, seed=0)
    config = tmp_path / 'faster_rcnn_scalenet50_short.py'
    config.write_text(SHORT_FORM.format(
        base='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'))
    entry = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                     'train.py')
    options = [
        f'train_dataloader.dataset.data_root={data}/',
        "train_dataloader.dataset.metainfo.classes="
        "('square','circle','triangle')",
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.roi_head.bbox_head.num_classes=3', 'train_cfg.max_epochs=3',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1', 'randomness.seed=0',
        'param_scheduler.0.start_factor=0.1'
    ]

    refused = run_main(entry, str(config), '--work-dir',
                       str(tmp_path / 'refused'), '--cfg-options', *options)
    assert refused.returncode != 0
    assert 'a ResNet checkpoint' in refused.stderr, refused.stderr[-2000:]
    assert not glob.glob(str(tmp_path / 'refused' / '*.pth'))

    # Its own work dir: the refused run's log is not read for losses.
    trained = run_main(entry, str(config), '--work-dir',
                       str(tmp_path / 'work'), '--cfg-options', *options,
                       'model.backbone.init_cfg=None')
    assert trained.returncode == 0, trained.stderr[-3000:]
    log = open(glob.glob(str(tmp_path / 'work' / '*' / '*.log'))[0]).read()
    assert "type='ScaleNet'" in log and '_delete_' not in log
    losses = [float(v) for v in re.findall(r' loss: ([\d.]+)', log)]
    assert len(losses) == 6 and all(np.isfinite(losses)), losses
    # Falling: the last iterations' mean below the first ones' (one loss
    # of a from-scratch detector moves a lot from batch to batch).
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    assert osp.isfile(tmp_path / 'work' / 'epoch_3.pth')
