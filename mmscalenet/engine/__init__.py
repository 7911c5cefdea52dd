# Copyright (c) mmscalenet contributors. All rights reserved.
from .hooks import (FiniteLossHook, GammaSparsityHook, NeuronAllocationHook,
                    SeedReadinessHook)

__all__ = [
    'FiniteLossHook', 'GammaSparsityHook', 'NeuronAllocationHook',
    'SeedReadinessHook'
]
