# Copyright (c) mmscalenet contributors. All rights reserved.
from .complexity import (COUNTED_OPS, ModelComplexity, TensorForward,
                         config_model_complexity, det_data_samples,
                         measure_complexity)
from .receptive_field import receptive_field_ranges

__all__ = [
    'COUNTED_OPS', 'ModelComplexity', 'TensorForward',
    'config_model_complexity', 'det_data_samples', 'measure_complexity',
    'receptive_field_ranges'
]
