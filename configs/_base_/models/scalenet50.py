# ScaleNet-50 (the authors' learned allocation) as an mmpretrain classifier,
# with the authors' initialization for their from-scratch ImageNet recipe:
# every norm's weight 1 (zero_init_residual=False; ScaleNet's default zeroes
# each block's last norm, as mmdet's and mmpretrain's ResNets do).
_base_ = './linear_classifier.py'

model = dict(
    backbone=dict(
        type='ScaleNet',
        depth=50,
        structure='scalenet50',
        out_indices=(3, ),
        zero_init_residual=False))
