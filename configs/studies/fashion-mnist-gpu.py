# The neuron-allocation study on Fashion-MNIST, GPU protocol: the whole
# training set (60,000 images), a longer schedule and 5 seeds, prepared as
# one command for one H100 (runs in 8 processes on the one GPU):
#
#   python tools/allocation_study.py configs/studies/fashion-mnist-gpu.py \
#       --workers 8
#
# Everything else as the CPU protocol (configs/studies/fashion-mnist-cpu.py):
# models, L1 selection on held-out training images (here 1,000 per class of
# the 6,000 per class), the same schedule for every run.
_base_ = './fashion-mnist-cpu.py'

name = 'fashion-mnist-gpu'
description = ('Fashion-MNIST, CIFAR ScaleNet-38 (L = 3) at 32x32, '
               'the whole training set, 5 seeds')
results = 'docs/studies/fashion-mnist-gpu.json'
seeds = [0, 1, 2, 3, 4]
epochs = 15
train_per_class = 6000
sparsity = dict(holdout_per_class=1000)
