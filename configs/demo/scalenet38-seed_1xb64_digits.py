# The seed net of the neuron allocation on the digits demo: a CIFAR
# ScaleNet-38 (L = 3) with 16 / 32 / 64 channels at every scale. After
# training, NeuronAllocationHook writes the allocated spec and the config to
# retrain it from scratch into the work dir.
_base_ = [
    '../_base_/models/linear_classifier.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_12e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmscalenet', 'mmscalenet.datasets'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CifarScaleNet',
        depth=38,
        structure='seed',
        reference_size=16,
        zero_init_residual=True),
    head=dict(num_classes=10, in_channels=256, topk=(1, )))

custom_hooks = [dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=12))
randomness = dict(seed=0)
