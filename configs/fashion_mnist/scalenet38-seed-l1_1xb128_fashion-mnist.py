# The seed net trained with Network Slimming's sparsity penalty on the SA
# blocks' BN gammas (lambda * sum |gamma|), then allocated as the plain seed:
# for tools/train.py. The study (tools/allocation_study.py) does not read this
# file: it adds the hook to the plain seed config with the strength it chose
# on held-out training images (docs/studies/fashion-mnist-cpu.json,
# "selection"). 3e-3 is the middle of that grid, until the selection has run.
_base_ = './scalenet38-seed_1xb128_fashion-mnist.py'

custom_hooks = [
    dict(type='GammaSparsityHook', lambda_l1=3e-3, weighting='uniform'),
    dict(type='NeuronAllocationHook', budget_ratio=1.0, b=0.0)
]
