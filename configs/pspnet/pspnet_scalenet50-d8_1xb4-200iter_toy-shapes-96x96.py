# A CPU minute of PSPNet on a dilated ScaleNet-50-D8, trained from scratch
# on the toy shapes set (python tools/make_toy_seg.py data/toy_seg): 64
# training and 16 validation images of 96x96 in the Cityscapes layout, 4
# classes (background, square, circle, triangle), read by mmseg's
# BaseSegDataset and scored by its IoUMetric. The network is the Cityscapes
# config's narrowed to fit the CPU: the backbone's stem and stages have a
# quarter of the channels (base 16; the even allocation at that width, as no
# learned structure exists for it), the heads a quarter too (512/256 ->
# 128/64 channels); it is not initialised from ImageNet (its residual
# branches start at zero). From scratch in 200 iterations the Cityscapes
# schedule (SGD, lr 0.01) learned only the background here; AdamW at lr
# 3e-3 learns the shapes (mIoU about 60; 43 at lr 1e-3). For smoke runs and
# the learning test, not for numbers.
_base_ = './pspnet_scalenet50-d8_4xb2-80k_cityscapes-512x1024.py'

crop_size = (96, 96)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        structure='even',
        stem_channels=16,
        base_channels=16,
        init_cfg=None,
        zero_init_residual=True),
    decode_head=dict(in_channels=512, num_classes=4, channels=128),
    auxiliary_head=dict(in_channels=256, num_classes=4, channels=64))

dataset_type = 'BaseSegDataset'
data_root = 'data/toy_seg'
metainfo = dict(
    classes=('background', 'square', 'circle', 'triangle'),
    palette=[[128, 128, 128], [220, 20, 60], [0, 142, 70], [250, 170, 30]])
toy_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='_leftImg8bit.png',
    seg_map_suffix='_gtFine_labelTrainIds.png')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline,
        **toy_dataset))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline,
        **toy_dataset))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=3e-3, weight_decay=1e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=200)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=200,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=200))
randomness = dict(seed=0)
