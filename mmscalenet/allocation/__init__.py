# Copyright (c) mmscalenet contributors. All rights reserved.
"""Data-driven neuron allocation (paper section 3.2, Algorithm 1)."""
from .algorithm import (AllocationError, AllocationResult, BlockAllocation,
                        allocate_block, allocate_neurons, even_allocation)
from .seed_net import (allocate_from_model, even_allocation_of_model,
                       find_scalenet, sa_layout, seed_importance)

__all__ = [
    'AllocationError', 'AllocationResult', 'BlockAllocation',
    'allocate_block', 'allocate_neurons', 'allocate_from_model',
    'even_allocation', 'even_allocation_of_model', 'find_scalenet',
    'sa_layout', 'seed_importance'
]
