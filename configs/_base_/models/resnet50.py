# mmpretrain's ResNet-50, the baseline of ScaleNet-50, same classifier.
_base_ = './linear_classifier.py'

model = dict(
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'))
