# RetinaNet FPN with a ScaleNet-50 backbone on COCO, mmdet's 1x schedule
# (12 epochs, 8 GPUs x 2 images), written the short way: the stock ResNet-50
# config with the backbone's type, depth, structure and weights changed;
# ScaleNet takes every other ResNet key it inherits. The backbone starts
# from an ImageNet ScaleNet-50 (tools/convert_official.py converts the
# authors'; --cfg-options model.backbone.init_cfg.checkpoint=PATH).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='ScaleNet',
        depth=50,
        structure='scalenet50',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/scalenet50_8xb32_in1k.pth',
            prefix='backbone.')))
