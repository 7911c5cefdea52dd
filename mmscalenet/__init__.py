# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet (Li et al., CVPR 2019) for the OpenMMLab stack.

Importing the package (``custom_imports = dict(imports=['mmscalenet'])``)
registers the backbones, the SA block and the hooks with mmengine's root
registries, so mmdet and mmpretrain configs can name them, registers the
ImageNet ScaleNets with mmpretrain's model index (when mmpretrain is
imported), and makes two changes to torch and mmengine for their
checkpoints (:mod:`mmscalenet.global_changes`: ``--resume`` under torch >=
2.6, one-line errors on corrupt files, ``.safetensors``), which
``MMSCALENET_GLOBAL_CHANGES=0`` turns off.
"""
from .checkpoint_compat import allow_mmengine_checkpoints
from .errors import ConfigError
from .global_changes import apply_global_changes, print_uncaught_in_one_line
from .version import __version__

try:
    apply_global_changes()
except ConfigError as error:  # a bad MMSCALENET_GLOBAL_CHANGES
    print_uncaught_in_one_line(error)
    raise

from . import engine, models  # noqa: E402,F401  (registers them)
from .model_index import (register_model_index,  # noqa: E402,F401
                          register_model_index_on_import)
from .models import (ChannelSpec, CifarResNet, CifarScaleNet,  # noqa: E402
                     SABlock, ScaleNet)

register_model_index_on_import()

__all__ = [
    '__version__', 'ChannelSpec', 'SABlock', 'ScaleNet', 'CifarScaleNet',
    'CifarResNet', 'allow_mmengine_checkpoints'
]
