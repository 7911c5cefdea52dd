# The paper's CIFAR-100 schedule: batch 64, 300 epochs, lr 0.1 divided by 10
# at epochs 150 and 225 (SGD, momentum 0.9; the paper gives no weight decay
# for CIFAR: 1e-4, its ImageNet value).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[150, 225], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
