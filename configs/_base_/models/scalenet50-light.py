# ScaleNet-50-light: the authors' allocation at about 70% of ResNet-50's FLOPs.
_base_ = './scalenet50.py'

model = dict(backbone=dict(structure='scalenet50_light'))
