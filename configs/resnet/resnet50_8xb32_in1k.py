# ResNet-50 baseline, the schedule of scalenet50_8xb32_in1k.py.
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_100e_step.py',
    '../_base_/default_runtime.py'
]
