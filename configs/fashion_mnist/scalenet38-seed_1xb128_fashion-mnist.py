# The seed net of the Fashion-MNIST allocation study: a CIFAR ScaleNet-38
# (L = 3, pooling 1/2/4) with 16 / 32 / 64 channels at every scale and a
# one-channel stem. After training, NeuronAllocationHook writes the allocated
# spec and the config to retrain it from scratch into the work dir.
_base_ = [
    '../_base_/models/linear_classifier.py',
    '../_base_/datasets/fashion-mnist_bs128.py',
    '../_base_/schedules/fashion-mnist_4e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        type='CifarScaleNet',
        depth=38,
        structure='seed',
        in_channels=1,
        zero_init_residual=True),
    head=dict(num_classes=10, in_channels=256, topk=(1, )))

custom_hooks = [dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)]
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
