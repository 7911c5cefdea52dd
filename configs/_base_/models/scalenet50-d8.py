# ScaleNet-50 as a dilated segmentation backbone at output stride 8, the
# mmseg ResNet-D8 convention: stage 2 strides (its 2x2 max pool), stages 3
# and 4 keep the resolution (no max pool) and dilate every 3x3 conv of their
# SA blocks by 2 and 4 (the pooling factors are unchanged; every block keeps
# the side it has at 224x224 input in the classifier, so the ImageNet
# weights load unchanged). SyncBN as mmseg's own D8 models; the ImageNet
# checkpoint (ours, or the authors' converted by tools/convert_official.py)
# through init_cfg. Segmentation configs use it as
#   model = dict(pretrained=None,
#                backbone=dict(_delete_=True, **_base_.scalenet_d8))
# (pretrained=None: mmseg's EncoderDecoder would otherwise hand the ResNet
# baseline's torchvision weights to the ScaleNet).
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
scalenet_d8 = dict(
    type='ScaleNet',
    depth=50,
    structure='scalenet50',
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    norm_eval=False,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/scalenet50_8xb32_in1k.pth',
        prefix='backbone.'))
