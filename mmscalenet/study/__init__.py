# Copyright (c) mmscalenet contributors. All rights reserved.
"""The neuron-allocation study: seed, allocate, retrain, compare, on real
data, over several seeds (``tools/allocation_study.py``)."""
from .matching import MatchedEven, even_at_macs
from .pipeline import (AllocationStudy, StudyLockedError, read_results,
                       select_lambda)
from .plots import plot_study
from .protocol import (ALL_KINDS, RUN_KINDS, SECOND_ROUND_KINDS,
                       ProtocolError, StudyProtocol)
from .report import equal_macs_summary, report, update_markdown

__all__ = [
    'ALL_KINDS', 'AllocationStudy', 'MatchedEven', 'ProtocolError',
    'RUN_KINDS', 'SECOND_ROUND_KINDS', 'StudyLockedError', 'StudyProtocol',
    'equal_macs_summary', 'even_at_macs', 'plot_study', 'read_results',
    'report', 'select_lambda', 'update_markdown'
]
