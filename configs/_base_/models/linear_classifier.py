# An mmpretrain ImageClassifier around a backbone (set by the model bases and
# configs): global average pooling and a linear head, 2048 -> 1000 classes.
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
