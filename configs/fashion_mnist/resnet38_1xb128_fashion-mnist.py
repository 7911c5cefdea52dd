# The bottleneck ResNet-38 baseline of the allocation study.
_base_ = './scalenet38-seed_1xb128_fashion-mnist.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='CifarResNet',
        depth=38,
        in_channels=1,
        zero_init_residual=True))
custom_hooks = []
