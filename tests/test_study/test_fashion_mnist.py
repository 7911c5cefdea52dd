# Copyright (c) mmscalenet contributors. All rights reserved.
"""Preparing Fashion-MNIST: small IDX files the test writes, and the real
ones from Debian's package."""
import gzip
import hashlib
import os
import struct

import numpy as np
import pytest
from mmengine.config import Config

from helpers import run_main, run_python
from mmscalenet.datasets.fashion_mnist import (DEBIAN_DIR,
                                               FASHION_MNIST_FILES,
                                               FashionMNISTError, IdxFile,
                                               balanced_indices, is_prepared,
                                               prepare_fashion_mnist)

HAS_REAL_FILES = all(
    os.path.isfile(os.path.join(DEBIAN_DIR, f.name + '.gz'))
    for f in FASHION_MNIST_FILES)
needs_real_files = pytest.mark.skipif(
    not HAS_REAL_FILES,
    reason=f'Fashion-MNIST not in {DEBIAN_DIR} (apt-get install '
    f'dataset-fashion-mnist; .ci/run installs it)')


def idx_bytes(magic: int, count: int, rng) -> bytes:
    if magic == 2051:
        header = struct.pack('>IIII', magic, count, 28, 28)
        body = rng.integers(0, 256, size=count * 28 * 28, dtype=np.uint8)
    else:
        header = struct.pack('>II', magic, count)
        body = rng.integers(0, 10, size=count, dtype=np.uint8)
    return header + body.tobytes()


@pytest.fixture
def small_release(tmp_path):
    """Four small IDX files (5 and 3 items), packed, and their specs."""
    rng = np.random.default_rng(0)
    src = tmp_path / 'src'
    src.mkdir()
    specs, contents = [], {}
    for real in FASHION_MNIST_FILES:
        count = 5 if real.name.startswith('train') else 3
        data = idx_bytes(real.magic, count, rng)
        specs.append(
            IdxFile(real.name, real.magic, count,
                    hashlib.md5(data).hexdigest()))
        contents[real.name] = data
        with gzip.open(src / (real.name + '.gz'), 'wb') as f:
            f.write(data)
    return src, specs, contents


def test_good_files_are_unpacked_and_checked(tmp_path, small_release):
    src, specs, contents = small_release
    out = tmp_path / 'data'
    sources = prepare_fashion_mnist(str(out), [str(tmp_path / 'none'),
                                               str(src)],
                                    download=False, files=specs)
    assert sorted(sources) == sorted(contents)
    for name, data in contents.items():
        assert (out / name).read_bytes() == data
        assert sources[name] == str(src / (name + '.gz'))
    assert is_prepared(str(out), specs)
    assert sorted(os.listdir(out)) == sorted(contents)  # no temporary files
    # A second call keeps the checked files.
    assert prepare_fashion_mnist(str(out), [], download=False,
                                 files=specs)[specs[0].name] == str(
                                     out / specs[0].name)


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'truncated'),
    ('magic', 'magic number 2049, expected 2051'),
    ('count', '4 items, expected 5'),
    ('content', 'checksum'),
])
def test_a_bad_file_is_refused_by_name(tmp_path, small_release, damage,
                                       message):
    src, specs, contents = small_release
    name = 'train-images-idx3-ubyte'
    data = bytearray(contents[name])
    if damage == 'truncate':
        data = data[:-100]
    elif damage == 'magic':
        data[:4] = struct.pack('>I', 2049)
    elif damage == 'count':
        data[4:8] = struct.pack('>I', 4)
        data = data[:-28 * 28]
    else:
        data[-1] ^= 0xFF
    # Unpacked this time: both forms are read.
    os.remove(src / (name + '.gz'))
    (src / name).write_bytes(bytes(data))
    out = tmp_path / 'data'
    with pytest.raises(FashionMNISTError) as error:
        prepare_fashion_mnist(str(out), [str(src)], download=False,
                              files=specs)
    assert str(src / name) in str(error.value)
    assert message in str(error.value)
    assert os.listdir(out) == []  # nothing half-written, nothing partial


def test_a_truncated_gzip_is_refused(tmp_path, small_release):
    src, specs, _ = small_release
    path = src / 't10k-labels-idx1-ubyte.gz'
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(FashionMNISTError, match='t10k-labels.*truncated'):
        prepare_fashion_mnist(str(tmp_path / 'data'), [str(src)],
                              download=False, files=specs)


def test_nothing_found_says_how_to_get_it(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FashionMNISTError) as error:
        prepare_fashion_mnist(str(tmp_path / 'data'), [str(empty)],
                              download=False)
    text = str(error.value)
    assert f'{empty} (no files)' in text
    assert 'apt-get install dataset-fashion-mnist' in text
    assert '--src' in text


def test_balanced_indices():
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert balanced_indices(labels, 2) == [0, 1, 2, 3, 4, 5]
    held_out = balanced_indices(labels, 1, skip_per_class=2)
    assert held_out == [6, 7, 8]
    with pytest.raises(ValueError, match='class 1 has 3 images'):
        balanced_indices(labels, 2, skip_per_class=2)


@pytest.mark.slow
def test_tool_refuses_a_foreign_file_in_one_line(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for spec in FASHION_MNIST_FILES:
        (src / spec.name).write_bytes(b'\x00\x00\x08\x03' + b'\x00' * 100)
    out = run_main('tools/prepare_fashion_mnist.py', '--out',
                   str(tmp_path / 'data'), '--src', str(src),
                   '--no-download')
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), out.stderr
    assert 'train-images-idx3-ubyte' in lines[0]
    assert 'Traceback' not in out.stderr


@pytest.mark.slow
@needs_real_files
def test_real_files_from_debian_and_mmpretrain_reads_them(tmp_path):
    out = tmp_path / 'fashion_mnist'
    result = run_python('tools/prepare_fashion_mnist.py', '--out', str(out),
                        '--no-download')
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('checked (from /usr/share/datasets') == 4
    from mmpretrain.datasets import FashionMNIST
    train = FashionMNIST(data_root=str(out), split='train', download=False)
    assert len(train) == 60000 and train[0]['img'].shape == (28, 28)
    # mmpretrain 1.2 reads the files by test_mode, not by split: the
    # study's dataset config must set both to read the test images.
    cfg = Config.fromfile(
        'configs/_base_/datasets/fashion-mnist_bs128.py').test_dataloader
    kwargs = dict(cfg.dataset, data_root=str(out), pipeline=[])
    assert kwargs.pop('type') == 'FashionMNIST'
    test = FashionMNIST(**kwargs)
    assert len(test) == 10000
    counts = np.bincount(test.get_gt_labels(), minlength=10)
    assert counts.tolist() == [1000] * 10
    first_test_image = (out / 't10k-images-idx3-ubyte').read_bytes()[16:16 +
                                                                     784]
    assert test.get_data_info(0)['img'].tobytes() == first_test_image
