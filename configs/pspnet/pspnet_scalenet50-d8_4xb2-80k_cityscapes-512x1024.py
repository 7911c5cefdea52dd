# PSPNet on ScaleNet-50 at output stride 8 (strides (1, 2, 1, 1), dilations
# (1, 1, 2, 4)), Cityscapes 512x1024, 80k iterations: the ResNet-50 baseline
# (pspnet_r50b-d8) with its backbone replaced, everything else unchanged
# (the widths 256/512/1024/2048 of the two nets are the same).
_base_ = [
    '../_base_/models/scalenet50-d8.py',
    './pspnet_r50b-d8_4xb2-80k_cityscapes-512x1024.py'
]
model = dict(
    pretrained=None, backbone=dict(_delete_=True, **_base_.scalenet_d8))
