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


def _memoize_config_reading():
    """Two pure functions of mmengine's ``Config`` that the suite calls
    hundreds of times, each result computed once per worker: yapf's
    formatting of a config's text (``Config.pretty_text``: the Runner logs
    it, then dumps it; 0.06-0.3 s a call, 56 calls for 11 texts in the
    reduced study), and the reading of an installed package's metafiles
    (``Config.fromfile`` reads all of them at every ``mmpretrain::`` or
    ``mmdet::`` base: 40 times, 8 s, while the suite is collected). The
    tools' runs in a new interpreter do both as they always do."""
    import functools

    import mmengine.config.config as config
    import mmengine.config.utils as utils
    format_code = config.FormatCode

    @functools.lru_cache(maxsize=None)
    def formatted(text, style):
        return format_code(text, style_config=dict(style))

    def cached_format_code(text, style_config):
        return formatted(text, tuple(sorted(style_config.items())))

    config.FormatCode = cached_format_code
    # (utils.load reads only the packages' model-index and metafiles.)
    utils.load = functools.lru_cache(maxsize=None)(utils.load)


_memoize_config_reading()


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
