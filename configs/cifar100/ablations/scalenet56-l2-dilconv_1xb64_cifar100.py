# Table 8 ablation: ScaleNet-56, L = 2 (factor 2), the coarse scale
# downsampled by a stride-2 3x3 conv, dilation 2; equal MACs for all four
# methods.
_base_ = './scalenet56-l2-even_1xb64_cifar100.py'

model = dict(backbone=dict(sa_downsample='dilated_conv'))
