# The paper's best detection row: Faster R-CNN FPN with ScaleNet-101 at
# 800 / 1200, 39.5 mmAP on COCO minival (paper Table 6). Train with
#   python tools/train.py configs/faster_rcnn_scalenet101_coco.py
# after converting or training an ImageNet ScaleNet-101 into
# checkpoints/scalenet101_8xb32_in1k.pth (or set
# --cfg-options model.backbone.init_cfg.checkpoint=PATH).
_base_ = './faster_rcnn/faster-rcnn_scalenet101_fpn_8xb2-10e_coco-800x1200.py'
