# Copyright (c) mmscalenet contributors. All rights reserved.
from .hooks import GammaSparsityHook, NeuronAllocationHook

__all__ = ['GammaSparsityHook', 'NeuronAllocationHook']
