# Faster R-CNN with FPN (mmdet's model) on a ScaleNet-50 backbone initialised
# from an ImageNet classifier checkpoint (one of ours, or an authors'
# checkpoint converted by tools/convert_official.py). Change the file with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ScaleNet',
        depth=50,
        structure='scalenet50',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/scalenet50_8xb32_in1k.pth',
            prefix='backbone.')))
