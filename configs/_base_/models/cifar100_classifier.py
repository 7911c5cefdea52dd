# The CIFAR-100 classifier of the paper's section 4.2 around a backbone (set
# by the configs): global average pooling and a linear head 256 -> 100.
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarScaleNet', depth=56, structure='even'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
