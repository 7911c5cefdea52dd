# Copyright (c) mmscalenet contributors. All rights reserved.
"""Data-driven neuron allocation (paper section 3.2, Algorithm 1)."""
from .algorithm import (AllocationError, AllocationResult, BlockAllocation,
                        allocate_block, allocate_neurons, even_allocation)
from .diagnostics import (AllocationDiagnostics, diagnose_allocation,
                          moved_share)
from .seed_net import (allocate_from_model, diagnose_model_allocation,
                       even_allocation_of_model, find_scalenet, sa_layout,
                       seed_importance)

__all__ = [
    'AllocationDiagnostics', 'AllocationError', 'AllocationResult',
    'BlockAllocation', 'allocate_block', 'allocate_from_model',
    'allocate_neurons', 'diagnose_allocation', 'diagnose_model_allocation',
    'even_allocation', 'even_allocation_of_model', 'find_scalenet',
    'moved_share', 'sa_layout', 'seed_importance'
]
