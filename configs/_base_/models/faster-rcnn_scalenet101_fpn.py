_base_ = './faster-rcnn_scalenet50_fpn.py'

model = dict(
    backbone=dict(
        depth=101,
        structure='scalenet101',
        init_cfg=dict(checkpoint='checkpoints/scalenet101_8xb32_in1k.pth')))
