# Faster R-CNN FPN with a ResNet-50 backbone (ImageNet weights from
# torchvision, as in mmdet's configs), COCO at shorter side 600 / longer side
# <= 1000, the paper's 10-epoch schedule. Paper Table 6: 31.7 mmAP.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection_600x1000.py',
    '../_base_/schedules/detection_10e.py',
    '../_base_/detection_runtime.py'
]
# The runtime's FiniteLossHook is mmscalenet's.
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
