# The comparison baseline of the allocation study: CIFAR ScaleNet-38 with
# equal channels per scale at the FLOPs of the ResNet 3x3 convs it replaces.
_base_ = './scalenet38-seed_1xb128_fashion-mnist.py'

model = dict(backbone=dict(structure='even'))
custom_hooks = []
