# A short schedule for the digits demo: SGD, cosine decay over 12 epochs.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR',
    T_max=12,
    by_epoch=True,
    begin=0,
    end=12,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=12)
val_cfg = dict()
test_cfg = dict()
