# Faster R-CNN with FPN (mmdet's model) on a ScaleNet-50 backbone initialised
# from an ImageNet classifier checkpoint (one of ours, or an authors'
# checkpoint converted by tools/convert_official.py). Change the file with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
#
# Written as mmdet writes its Res2Net configs: the stock backbone's keys
# (num_stages, out_indices, frozen_stages=1, norm_cfg, norm_eval=True,
# style='pytorch') are inherited and ScaleNet takes them as ResNet does;
# only the keys that differ are set.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
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
