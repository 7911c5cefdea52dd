# ResNet-101 baseline, the schedule of scalenet101_8xb32-coslr-120e_in1k.py.
_base_ = [
    '../_base_/models/resnet101.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_coslr_120e.py',
    '../_base_/default_runtime.py'
]
