# The demo (`make demo`): the allocation pipeline on scikit-learn's digits
# (1,437 train / 360 test images, 16x16), one seed, the digits configs'
# 12-epoch schedule; about 2 minutes on 2 cores. The digits are easy: every
# net lands at 97-100%, so this shows the pipeline working, not which
# allocation is better; for that, see configs/studies/fashion-mnist-cpu.py.
name = 'digits'
description = 'scikit-learn digits, CIFAR ScaleNet-38 (L = 3), 1 seed'
dataset = 'digits'
results = 'work_dirs/demo/results.json'
seeds = [0]
models = dict(
    seed='configs/demo/scalenet38-seed_1xb64_digits.py',
    even='configs/demo/scalenet38-even_1xb64_digits.py',
    resnet='configs/demo/resnet38_1xb64_digits.py')
