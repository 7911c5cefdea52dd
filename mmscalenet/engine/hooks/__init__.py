# Copyright (c) mmscalenet contributors. All rights reserved.
from .neuron_allocation_hook import NeuronAllocationHook

__all__ = ['NeuronAllocationHook']
