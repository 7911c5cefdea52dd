# Copyright (c) mmscalenet contributors. All rights reserved.
from .finite_loss_hook import FiniteLossHook
from .gamma_sparsity_hook import GammaSparsityHook
from .neuron_allocation_hook import NeuronAllocationHook
from .seed_readiness_hook import SeedReadinessHook

__all__ = [
    'FiniteLossHook', 'GammaSparsityHook', 'NeuronAllocationHook',
    'SeedReadinessHook'
]
