# Seed of the neuron allocation for ScaleNet-101: {64, 128, 256, 512}
# channels at each of the L = 4 scales of every block. Trained with the
# paper's schedule; NeuronAllocationHook then writes the allocated spec and
# the config that retrains it from scratch into the work dir.
_base_ = './scalenet101_8xb32_in1k.py'

model = dict(backbone=dict(structure='seed'))
custom_hooks = [dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)]
