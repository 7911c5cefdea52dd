# The seed net trained with Network Slimming's sparsity penalty on the SA
# blocks' BN gammas (lambda * sum |gamma|), then allocated as the plain seed.
# lambda_l1 is the value the CPU study chose on a held-out part of its
# training subset (docs/studies/fashion-mnist-cpu.json, "selection").
_base_ = './scalenet38-seed_1xb128_fashion-mnist.py'

custom_hooks = [
    dict(type='GammaSparsityHook', lambda_l1=3e-3, weighting='uniform'),
    dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)
]
