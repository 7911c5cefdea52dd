# The baseline of pspnet_scalenet101-d8: mmseg's own PSPNet with a
# torchvision ResNet-101 (ResNetV1b: the 7x7 stem ScaleNet has too),
# dilated to output stride 8, Cityscapes 512x1024, 80k iterations.
_base_ = 'mmseg::pspnet/pspnet_r101b-d8_4xb2-80k_cityscapes-512x1024.py'
