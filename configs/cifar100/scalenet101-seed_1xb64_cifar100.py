# Seed of the neuron allocation for the CIFAR ScaleNet-101: 16 / 32 / 64
# channels at each of the L = 3 scales. NeuronAllocationHook writes the
# allocated spec and its retrain config into the work dir.
_base_ = './scalenet101_1xb64_cifar100.py'

model = dict(backbone=dict(structure='seed'))
custom_hooks = [dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)]
