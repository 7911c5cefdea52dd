# Table 8 ablation: ScaleNet-56, L = 2 (factor 2), the coarse scale
# downsampled by a 2x2 max pool (the SA block default); equal MACs for all
# four methods.
_base_ = './scalenet56-l2-even_1xb64_cifar100.py'

model = dict(backbone=dict(sa_downsample='max'))
