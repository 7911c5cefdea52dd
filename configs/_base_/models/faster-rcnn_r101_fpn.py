# mmdet's Faster R-CNN FPN with a ResNet-101 backbone (torchvision weights,
# as mmdet's own r101 configs).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained', checkpoint='torchvision://resnet101')))
