# Faster R-CNN FPN with a ScaleNet-50 backbone, COCO at shorter side 800 /
# longer side <= 1200, the paper's 10-epoch schedule. Paper Table 6: 37.2
# mmAP.
_base_ = [
    '../_base_/models/faster-rcnn_scalenet50_fpn.py',
    '../_base_/datasets/coco_detection_800x1200.py',
    '../_base_/schedules/detection_10e.py',
    '../_base_/detection_runtime.py'
]
