_base_ = './scalenet50.py'

model = dict(backbone=dict(depth=101, structure='scalenet101'))
