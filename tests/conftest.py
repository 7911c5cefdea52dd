# Copyright (c) mmscalenet contributors. All rights reserved.
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
