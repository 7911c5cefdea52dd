# The CIFAR-100 classifier of the paper's section 4.2: a CIFAR backbone (set
# by the configs), global average pooling and a linear head 256 -> 100; the
# authors' initialization (every norm's weight 1: zero_init_residual=False).
_base_ = './linear_classifier.py'

model = dict(
    backbone=dict(
        type='CifarScaleNet',
        depth=56,
        structure='even',
        zero_init_residual=False),
    head=dict(num_classes=100, in_channels=256))
