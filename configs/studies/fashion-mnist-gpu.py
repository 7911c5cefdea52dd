# The neuron-allocation study on Fashion-MNIST, GPU protocol: the whole
# training set (60,000 images) and 5 seeds, as one command for one GPU
# (runs in 12 processes on the one GPU, one CPU thread each):
#
#   OMP_NUM_THREADS=1 python tools/allocation_study.py \
#       configs/studies/fashion-mnist-gpu.py --workers 12
#
# (Since 2026-12-02 `tools/dev/gpu_measurements.sh` is the speed measurements
# alone; run this protocol in its own device call.)
# Measured on one H100 (2026-11-26, tools/dev/gpu_measurements.sh, 245 s for
# the study): 12 runs at once trained at about 0.33 s per 128-image step
# each, ~4,600 images/s in all, a quarter of the ~20,000 this protocol was
# sized for before any GPU was seen; no run finished in the 245 s. At that
# rate its 39 runs (2 epochs of 60,000 images each, 938 SGD steps, three
# times the CPU protocol's 316, on six times the data) need ~17 minutes,
# more than one session's device time. Before the next try, measure one
# run alone against 4 and 12 at once (the processes share the GPU by time
# slices, and each spends its CPU time in eager PyTorch and the data
# pipeline), then size the epochs or the seeds to the rate found.
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
# The CPU protocol's second round (a 16-epoch seed per seed, 9 more runs per
# seed) is not sized for a GPU call: left out here.
second_round = None
