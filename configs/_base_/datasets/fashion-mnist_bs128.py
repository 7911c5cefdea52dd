# Fashion-MNIST (60,000 train / 10,000 test, 28x28 grey, 10 classes), read
# by mmpretrain's own FashionMNIST class from the four unpacked IDX files in
# data/fashion_mnist/ (fill it with tools/prepare_fashion_mnist.py).
# The images stay grey (one channel: give the backbone in_channels=1) and are
# padded by 2 pixels on every side to 32x32, so CIFAR nets keep their
# 32/16/8 stages. Training adds random shifts of up to 2 pixels and
# horizontal flips.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    # Pad 4 and crop 32: the 28x28 image lands 0-4 pixels from the border.
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    # Pad 2 and crop 32: the crop has one position (a centered 2-pixel pad).
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        download=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        # mmpretrain 1.2's MNIST classes pick the files by test_mode, not by
        # split: without it, 'test' would read the training images.
        test_mode=True,
        download=False,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
