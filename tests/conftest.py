# Copyright (c) mmscalenet contributors. All rights reserved.
import collections
import gc
import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


def pytest_configure(config):
    """Set up each process that collects and runs tests; xdist's controller
    (make test), which only hands files to its workers, starts them without
    importing torch and the MM packages first (4.4 s)."""
    controller = (getattr(config.option, 'dist', 'no') != 'no'
                  and not hasattr(config, 'workerinput')
                  and not config.getoption('collectonly'))
    if not controller:
        _share_the_cores()
        _memoize_config_reading()
        _memoize_mnist_reading()


def _share_the_cores():
    """Under pytest-xdist (make test), each worker gets its share of the
    cores for torch's threads, and so do the tools and runners its tests
    start: two workers of 2 threads each on 2 cores would slow every
    training test."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        import torch
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = \
            threads
        torch.set_num_threads(int(threads))


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


def _memoize_mnist_reading():
    """mmpretrain's MNIST reader (Fashion-MNIST's too) turns a whole split
    file into one dict per image at every dataset build (0.8 s for 60,000
    images; the reduced Fashion-MNIST study builds 20): read once per
    worker, split and state of its files, each build given a copy of the
    list (mmengine clears the list it serializes). The tools' runs in a new
    interpreter read the files every time, as they always do."""
    from mmpretrain.datasets import mnist
    load_data_list = mnist.MNIST.load_data_list
    read = {}

    def cached_load_data_list(dataset):
        root = dataset.data_prefix['root']
        files = sorted((entry.name, entry.stat().st_mtime_ns,
                        entry.stat().st_size) for entry in os.scandir(root)
                       if entry.is_file())
        key = (type(dataset), root, dataset.test_mode, tuple(files))
        if key not in read:
            read[key] = load_data_list(dataset)
        return list(read[key])

    mnist.MNIST.load_data_list = cached_load_data_list


def pytest_collection_finish(session):
    """Leave the objects that live all session (the modules collection
    imported: torch, the MM packages, timm; the test items) out of Python's
    garbage collection: mmengine collects at every dataset it builds and
    each full collection walked all of them (0.3-0.5 s; a fifth of the
    time of the files with in-process Runners went to the collector)."""
    gc.collect()
    gc.freeze()


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
    import torch
    torch.manual_seed(0)
    yield
