# ScaleNet-38 on CIFAR-100 (L = 3, pooling factors 1, 2, 4), paper schedule.
# The authors released no CIFAR allocation: this config uses the even
# allocation at the FLOPs of ResNet-38; for the data-driven one, train
# scalenet38-seed_1xb64_cifar100.py and then the retrain config it writes.
_base_ = [
    '../_base_/models/cifar100_classifier.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_bs64_300e.py',
    '../_base_/default_runtime.py'
]

model = dict(backbone=dict(depth=38, structure='even'))
