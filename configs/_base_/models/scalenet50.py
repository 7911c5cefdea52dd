# ScaleNet-50 (the authors' learned allocation) as an mmpretrain classifier.
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
# ImageClassifier, GlobalAveragePooling and LinearClsHead are mmpretrain's.
default_scope = 'mmpretrain'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ScaleNet', depth=50, structure='scalenet50', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
