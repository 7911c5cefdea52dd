# The neuron-allocation study on Fashion-MNIST, CPU protocol (`make study`):
# about 3.2 hours on this project's idle 2-core machine, all 25 runs together
# (measured: ScaleNet-38 seed ~106 s per epoch of 10,000 images, ~50 s per
# pass over the 10,000 test images), and resumable run by run (finished
# runs are kept in the results file). 4 epochs is what fits 4 hours: 5
# would take ~3.9 hours.
#
# Data: mmpretrain's FashionMNIST, grey, padded to 32x32 (one-channel stem);
# training on a class-balanced subset (the first 1,000 images of every class
# in file order: 10,000 images), testing on all 10,000 test images, once, at
# the end of each run.
# Models: the paper's CIFAR nets unchanged (L = 3, pooling 1/2/4, depth 38).
# Per seed (initialisation and data order; the same for every model):
#   seed          ScaleNet-38 seed, 16/32/64 channels at every scale
#   allocated     its data-driven allocation (budget ratio 1.0, b = 0),
#                 retrained from scratch
#   even          equal channels per scale at the same budget
#   resnet        the bottleneck ResNet-38
#   resnet-wide   ResNet-38 widened to the ScaleNets' MACs (within 3%)
#   seed-l1       the seed with an L1 penalty on its SA gammas
#   allocated-l1  its allocation, retrained from scratch (no penalty)
# Schedule: the same for every run, no per-model tuning: SGD (momentum 0.9,
# weight decay 5e-4), lr 0.1, batch 128, cosine decay over `epochs` epochs.
# The L1 strength is chosen before any test image is seen: the seed net
# (first seed) is trained on 800 images per class with each candidate and
# without the penalty, and evaluated on the other 200 per class of the
# subset; the rule is SparsitySelection's (mmscalenet/study/protocol.py).
#
# Second round (issue 20; the 21 first-round runs stay as they are), per seed:
#   even-matched            the even allocation at the MACs of `allocated`
#                           (1x1 convs and head included, within 1%: its
#                           budget ratio searched); the same for every
#                           data-driven net below (-long, -l1-ranked, -l1)
#   allocated-rerun         `allocated` trained again beside even-matched, so
#                           that the pair shares a machine (and the rerun
#                           against the first round shows the machine's own
#                           effect)
#   seed-long               the plain seed trained 16 epochs (4x) with
#                           SeedReadinessHook: its ranking, epoch by epoch
#   allocated-long          its allocation, retrained with the 4 epochs
#   seed-l1-ranked          the seed with the L1 strength chosen so that the
#                           budget's cut falls inside ranked neurons: the
#                           largest of `lambdas` whose allocation (seed net on
#                           the selection split, first seed) keeps at most
#                           10% of its neurons at |gamma| near 0, fixed before
#                           any test image is seen
#   allocated-l1-ranked     its allocation, retrained
# Budget: at most 4.5 idle hours on 2 cores (measured per run: see the
# results file's `minutes`); an even-matched net equal to one already trained
# for that seed reuses its record.
name = 'fashion-mnist-cpu'
description = ('Fashion-MNIST, CIFAR ScaleNet-38 (L = 3) at 32x32, '
               '10,000 training images, 3 seeds')
dataset = 'fashion-mnist'
data_root = 'data/fashion_mnist'
results = 'docs/studies/fashion-mnist-cpu.json'
seeds = [0, 1, 2]
epochs = 4
train_per_class = 1000
models = dict(
    seed='configs/fashion_mnist/scalenet38-seed_1xb128_fashion-mnist.py',
    even='configs/fashion_mnist/scalenet38-even_1xb128_fashion-mnist.py',
    resnet='configs/fashion_mnist/resnet38_1xb128_fashion-mnist.py',
    resnet_wide='configs/fashion_mnist/'
    'resnet38-wide_1xb128_fashion-mnist.py')
sparsity = dict(
    lambdas=[1e-3, 3e-3, 1e-2],
    holdout_per_class=200,
    tolerance=1.0,
    weighting='uniform')
second_round = dict(
    long_seed_epochs=16,
    lambdas=[5e-4, 1e-3, 2e-3, 4e-3],
    match_tolerance=0.01,
    max_near_zero_share=0.10)
