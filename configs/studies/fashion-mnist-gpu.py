# The neuron-allocation study on Fashion-MNIST, GPU protocol: the whole
# training set (60,000 images) and 5 seeds, prepared as one command for one
# H100 (runs in 12 processes on the one GPU, one CPU thread each):
#
#   OMP_NUM_THREADS=1 python tools/allocation_study.py \
#       configs/studies/fashion-mnist-gpu.py --workers 12
#
# (`tools/gpu_measurements.sh` runs it with the GPU benchmark table.)
# Sized for this project's device budget (about 5 minutes of one H100 for
# the whole study, 39 runs): 2 epochs of 60,000 images is 938 SGD steps a
# run, three times the CPU protocol's 316, on six times the data. Estimated
# before the run (one H100 shared by 12 eager processes, ~20,000 img/s in
# all); runs finish seed by seed, so a cut study keeps whole seeds.
# Everything else as the CPU protocol (configs/studies/fashion-mnist-cpu.py):
# models, L1 selection on held-out training images (here 1,000 per class of
# the 6,000 per class), the same schedule for every run.
_base_ = './fashion-mnist-cpu.py'

name = 'fashion-mnist-gpu'
description = ('Fashion-MNIST, CIFAR ScaleNet-38 (L = 3) at 32x32, '
               'the whole training set, 2 epochs, 5 seeds')
results = 'docs/studies/fashion-mnist-gpu.json'
seeds = [0, 1, 2, 3, 4]
epochs = 2
train_per_class = 6000
sparsity = dict(holdout_per_class=1000)
