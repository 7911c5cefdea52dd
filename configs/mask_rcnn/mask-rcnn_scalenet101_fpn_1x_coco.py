# Mask R-CNN FPN with a ScaleNet-101 backbone on COCO, mmdet's 1x schedule:
# the ScaleNet-50 config with the depth, structure and weights changed.
_base_ = './mask-rcnn_scalenet50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        structure='scalenet101',
        init_cfg=dict(checkpoint='checkpoints/scalenet101_8xb32_in1k.pth')))
