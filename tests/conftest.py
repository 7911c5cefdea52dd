# Copyright (c) mmscalenet contributors. All rights reserved.
import collections
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


def _memoize_config_formatting():
    """yapf's formatting of a config's text (``Config.pretty_text``: the
    Runner logs it, then dumps it to the work dir) is a pure function of the
    text, and took 0.06-0.3 s a call, 56 calls for 11 texts in the reduced
    study: each text is formatted once per worker. (The tools' runs in a
    new interpreter format as they always do.)"""
    import functools

    import mmengine.config.config as config
    original = config.FormatCode

    @functools.lru_cache(maxsize=None)
    def format_code(text, style):
        return original(text, style_config=dict(style))

    def cached(text, style_config):
        return format_code(text, tuple(sorted(style_config.items())))

    config.FormatCode = cached


_memoize_config_formatting()


def pytest_collection_modifyitems(items):
    """Files with the most tests marked slow (the end-to-end runs) first,
    each file's own order kept: make test hands whole files to its workers
    in this order (``--dist loadfile --no-loadscope-reorder``), so the long
    files start early and the last to run are quick ones. (xdist's own
    order, by number of tests, left a 75 s file for one worker at the end
    while the other sat idle.)"""
    def file_of(item):
        return item.nodeid.split('::')[0]

    slow = collections.Counter(
        file_of(item) for item in items if item.get_closest_marker('slow'))
    first = {}
    for index, item in enumerate(items):
        first.setdefault(file_of(item), index)
    items.sort(key=lambda item: (-slow[file_of(item)], first[file_of(item)]))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
