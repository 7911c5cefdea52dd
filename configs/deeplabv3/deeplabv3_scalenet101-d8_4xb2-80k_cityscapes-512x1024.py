# DeepLabV3 on ScaleNet-101 at output stride 8, Cityscapes 512x1024, 80k
# iterations; baseline: deeplabv3_r101b-d8.
_base_ = './deeplabv3_scalenet50-d8_4xb2-80k_cityscapes-512x1024.py'
model = dict(
    backbone=dict(
        depth=101,
        structure='scalenet101',
        init_cfg=dict(checkpoint='checkpoints/scalenet101_8xb32_in1k.pth')))
