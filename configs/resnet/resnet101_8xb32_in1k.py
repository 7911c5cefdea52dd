# ResNet-101 baseline, the schedule of scalenet101_8xb32_in1k.py.
_base_ = [
    '../_base_/models/resnet101.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_100e_step.py',
    '../_base_/default_runtime.py'
]
