# ScaleNet-50 (the authors' learned allocation) as an mmpretrain classifier.
_base_ = './linear_classifier.py'

model = dict(
    backbone=dict(
        type='ScaleNet', depth=50, structure='scalenet50', out_indices=(3, )))
