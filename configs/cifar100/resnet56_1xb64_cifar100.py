# The bottleneck ResNet-56 baseline on CIFAR-100 (paper section 4.2).
_base_ = [
    '../_base_/models/cifar100_classifier.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_bs64_300e.py',
    '../_base_/default_runtime.py'
]

model = dict(backbone=dict(_delete_=True, type='CifarResNet', depth=56))
