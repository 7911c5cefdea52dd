# Copyright (c) mmscalenet contributors. All rights reserved.
from .complexity import COUNTED_OPS, ModelComplexity, measure_complexity
from .receptive_field import receptive_field_ranges

__all__ = [
    'COUNTED_OPS', 'ModelComplexity', 'measure_complexity',
    'receptive_field_ranges'
]
