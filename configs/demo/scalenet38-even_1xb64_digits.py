# The comparison baseline of the digits demo: the same CIFAR ScaleNet-38
# with equal channels per scale at the FLOPs of the ResNet it replaces.
_base_ = './scalenet38-seed_1xb64_digits.py'

model = dict(backbone=dict(structure='even'))
custom_hooks = []
