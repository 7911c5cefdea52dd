# Copyright (c) mmscalenet contributors. All rights reserved.
from .complexity import COUNTED_OPS, ModelComplexity, measure_complexity

__all__ = ['COUNTED_OPS', 'ModelComplexity', 'measure_complexity']
