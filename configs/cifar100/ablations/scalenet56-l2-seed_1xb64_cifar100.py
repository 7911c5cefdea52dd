# Figure 4 ablation: the seed of the data-driven allocation with L = 2
# scales; its NeuronAllocationHook writes the allocated spec and the config
# to retrain it.
_base_ = './scalenet56-l2-even_1xb64_cifar100.py'

model = dict(backbone=dict(structure='seed'))
custom_hooks = [dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)]
