# ScaleNet-50-light on ImageNet-1k, the paper's schedule (100 epochs, step lr).
_base_ = [
    '../_base_/models/scalenet50-light.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_100e_step.py',
    '../_base_/default_runtime.py'
]
