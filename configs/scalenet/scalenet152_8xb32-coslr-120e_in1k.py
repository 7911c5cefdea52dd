# ScaleNet-152 on ImageNet-1k, the authors' release recipe (120 epochs,
# cosine).
_base_ = [
    '../_base_/models/scalenet152.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_coslr_120e.py',
    '../_base_/default_runtime.py'
]
