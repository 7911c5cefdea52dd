# Copyright (c) mmscalenet contributors. All rights reserved.
from .gamma_sparsity_hook import GammaSparsityHook
from .neuron_allocation_hook import NeuronAllocationHook
from .seed_readiness_hook import SeedReadinessHook

__all__ = ['GammaSparsityHook', 'NeuronAllocationHook', 'SeedReadinessHook']
