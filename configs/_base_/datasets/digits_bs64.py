# scikit-learn's handwritten digits (shipped with scikit-learn: 1,437 train /
# 360 test images, 8x8, 10 classes), resized to 16x16 for CIFAR-style nets.
# DigitsDataset needs custom_imports of 'mmscalenet.datasets' in the config.

dataset_type = 'DigitsDataset'
data_preprocessor = dict(
    num_classes=10,
    mean=[83.0, 83.0, 83.0],
    std=[105.0, 105.0, 105.0],
    to_rgb=False)

train_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=120,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
