# The authors' release recipe: the paper's optimizer, 120 epochs, cosine lr.
_base_ = './imagenet_bs256_100e_step.py'

param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', T_max=120, by_epoch=True,
    begin=0, end=120)
train_cfg = dict(max_epochs=120)
