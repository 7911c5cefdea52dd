# Copyright (c) mmscalenet contributors. All rights reserved.
from .hooks import (GammaSparsityHook, NeuronAllocationHook,
                    SeedReadinessHook)

__all__ = ['GammaSparsityHook', 'NeuronAllocationHook', 'SeedReadinessHook']
