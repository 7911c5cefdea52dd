# The bottleneck ResNet-38 baseline of the digits demo.
_base_ = './scalenet38-seed_1xb64_digits.py'

model = dict(
    backbone=dict(
        _delete_=True, type='CifarResNet', depth=38, zero_init_residual=True))
custom_hooks = []
