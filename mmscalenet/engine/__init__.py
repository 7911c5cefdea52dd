# Copyright (c) mmscalenet contributors. All rights reserved.
from .hooks import NeuronAllocationHook

__all__ = ['NeuronAllocationHook']
