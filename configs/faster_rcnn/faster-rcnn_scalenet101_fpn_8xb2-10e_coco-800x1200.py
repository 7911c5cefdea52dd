# Faster R-CNN FPN with a ScaleNet-101 backbone, COCO at shorter side 800 /
# longer side <= 1200, the paper's 10-epoch schedule. Paper Table 6: 39.5
# mmAP.
_base_ = [
    '../_base_/models/faster-rcnn_scalenet101_fpn.py',
    '../_base_/datasets/coco_detection_800x1200.py',
    '../_base_/schedules/detection_10e.py',
    '../_base_/detection_runtime.py'
]
