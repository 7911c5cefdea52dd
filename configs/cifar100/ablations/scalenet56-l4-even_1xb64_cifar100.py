# Figure 4 ablation: ScaleNet-56 with L = 4 scales (pooling factors
# 1, 2, 4, 8), even allocation at the FLOPs of ResNet-56.
_base_ = '../scalenet56_1xb64_cifar100.py'

model = dict(backbone=dict(pool_factors=(1, 2, 4, 8), structure='even'))
