# ResNet-38 widened to the MACs of the ScaleNet-38s of the study (widths
# 18 / 35 / 70 instead of 16 / 32 / 64: 73.18 M MACs at 32x32 against the
# even ScaleNet-38's 72.32 M, 1.2% more; `tools/get_flops.py` prints both),
# so that ScaleNet is also compared at comparable whole-network complexity.
_base_ = './resnet38_1xb128_fashion-mnist.py'

model = dict(
    backbone=dict(widen_factor=1.1), head=dict(in_channels=4 * 70))
