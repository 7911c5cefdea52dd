# Copyright (c) mmscalenet contributors. All rights reserved.
import os
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

# Under pytest-xdist (make test), each worker gets its share of the cores
# for torch's threads, and so do the tools and runners its tests start:
# two workers of 2 threads each on 2 cores would slow every training test.
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if WORKERS > 1:
    THREADS = str(max(1, (os.cpu_count() or 1) // WORKERS))
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = THREADS
    torch.set_num_threads(int(THREADS))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
