_base_ = './scalenet50.py'

model = dict(backbone=dict(depth=152, structure='scalenet152'))
