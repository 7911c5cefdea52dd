# The study's short CPU schedule: SGD, cosine decay over 4 epochs, the test
# set evaluated once, at the end (tools/allocation_study.py sets the epochs
# of its protocol; this file is what tools/train.py runs).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR',
    T_max=4,
    by_epoch=True,
    begin=0,
    end=4,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=4)
val_cfg = dict()
test_cfg = dict()
