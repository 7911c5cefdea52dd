# Copyright (c) mmscalenet contributors. All rights reserved.
"""The neuron-allocation study: seed, allocate, retrain, compare, on real
data, over several seeds (``tools/allocation_study.py``)."""
from .pipeline import AllocationStudy, read_results, select_lambda
from .plots import plot_study
from .protocol import RUN_KINDS, ProtocolError, StudyProtocol
from .report import report

__all__ = [
    'AllocationStudy', 'ProtocolError', 'RUN_KINDS', 'StudyProtocol',
    'plot_study', 'read_results', 'report', 'select_lambda'
]
