# Copyright (c) mmscalenet contributors. All rights reserved.
"""Every classification config loads, builds its model and runs one
forward pass; one config of each family (data set, backbone type, seed
run or not) also trains one iteration and runs one validation pass through
tools/train.py, on tiny data written in the data set's real on-disk
format, with only the data root, batch size and iteration count
overridden."""
import glob
import os.path as osp
import pickle
import re
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs')


def classification_configs():
    found = []
    for path in sorted(glob.glob(osp.join(CONFIG_DIR, '**', '*.py'),
                                 recursive=True)):
        rel = osp.relpath(path, CONFIG_DIR)
        if rel.startswith('_base_'):
            continue
        if Config.fromfile(path).get('default_scope') == 'mmpretrain':
            found.append(rel)
    return found


CONFIGS = classification_configs()


def family(config: str) -> tuple:
    """What a Runner exercises differently: the data set (its files and
    pipeline), the backbone type, and whether the seed hooks run."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    seed = any(h['type'] == 'NeuronAllocationHook'
               for h in cfg.get('custom_hooks', []))
    return (cfg.train_dataloader.dataset.type, cfg.model.backbone.type, seed)


def depth_of(config: str) -> int:
    return int(re.search(r'\d+', osp.basename(config)).group())


def one_config_per_family() -> list:
    """The shallowest config of each family (ties: by name)."""
    families = {}
    for config in CONFIGS:
        families.setdefault(family(config), []).append(config)
    return sorted(
        min(configs, key=lambda c: (depth_of(c), c))
        for configs in families.values())


RUNNER_CONFIGS = one_config_per_family()


def write_imagenet(root):
    """ImageNet's layout with meta files: train/<wnid>/*.JPEG,
    val/ILSVRC2012_val_*.JPEG, meta/{train,val}.txt ("path label")."""
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True)
    train_lines, val_lines = [], []
    for label, wnid in ((0, 'n01440764'), (1, 'n01443537')):
        (root / 'train' / wnid).mkdir(parents=True)
        name = f'{wnid}_{label}.JPEG'
        cv2.imwrite(str(root / 'train' / wnid / name),
                    rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
        train_lines.append(f'{wnid}/{name} {label}')
    (root / 'val').mkdir()
    for i, label in enumerate((0, 1), start=1):
        name = f'ILSVRC2012_val_{i:08d}.JPEG'
        cv2.imwrite(str(root / 'val' / name),
                    rng.integers(0, 255, (70, 50, 3), dtype=np.uint8))
        val_lines.append(f'{name} {label}')
    (root / 'meta' / 'train.txt').write_text('\n'.join(train_lines) + '\n')
    (root / 'meta' / 'val.txt').write_text('\n'.join(val_lines) + '\n')


def write_cifar100(root):
    """CIFAR-100's python version: pickled dicts in cifar-100-python/."""
    rng = np.random.default_rng(0)
    folder = root / 'cifar-100-python'
    folder.mkdir(parents=True)
    for split in ('train', 'test'):
        entry = {
            'data': rng.integers(0, 255, (2, 3072), dtype=np.uint8),
            'fine_labels': [3, 97],
            'coarse_labels': [0, 19],
            'filenames': [f'{split}_{i}.png' for i in range(2)],
        }
        with open(folder / split, 'wb') as f:
            pickle.dump(entry, f)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({'fine_label_names': [f'c{i}' for i in range(100)],
                     'coarse_label_names': [f'g{i}' for i in range(20)]}, f)


def write_fashion_mnist(root):
    """Fashion-MNIST's four unpacked IDX files, two images each (what
    mmpretrain's FashionMNIST reads; the real files are checked by
    tests/test_study/test_fashion_mnist.py)."""
    import struct
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for split in ('train', 't10k'):
        images = rng.integers(0, 255, (2, 28, 28), dtype=np.uint8)
        (root / f'{split}-images-idx3-ubyte').write_bytes(
            struct.pack('>IIII', 2051, 2, 28, 28) + images.tobytes())
        (root / f'{split}-labels-idx1-ubyte').write_bytes(
            struct.pack('>II', 2049, 2) + bytes([3, 7]))


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    write_imagenet(root / 'imagenet')
    write_cifar100(root / 'cifar100')
    write_fashion_mnist(root / 'fashion_mnist')
    return root


def dataset_root(cfg, roots):
    kind = cfg.train_dataloader.dataset.type
    return {
        'ImageNet': roots / 'imagenet',
        'CIFAR100': roots / 'cifar100',
        'FashionMNIST': roots / 'fashion_mnist'
    }.get(kind)


def test_every_family_has_a_runner_config():
    """12 families; every config belongs to the family of one of them."""
    assert len(RUNNER_CONFIGS) == 12
    assert {family(c) for c in RUNNER_CONFIGS} == {family(c) for c in CONFIGS}
    assert 'scalenet/scalenet50-seed_8xb32_in1k.py' in RUNNER_CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_runs_one_forward_pass(config):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
    backbone = cfg.model.backbone
    size = backbone.get('reference_size', 64)
    with torch.no_grad():
        logits = model(
            torch.rand(2, model.backbone.conv1.in_channels, size, size),
            mode='tensor')
    assert logits.shape == (2, cfg.model.head.num_classes)
    assert torch.isfinite(logits).all()


# ImageNet's seed config (224x224, the allocation hook) in the whole suite.
@pytest.mark.parametrize('config', [
    pytest.param(c, marks=pytest.mark.slow) if c ==
    'scalenet/scalenet50-seed_8xb32_in1k.py' else c for c in RUNNER_CONFIGS
])
def test_config_trains_one_iteration_and_validates(config, data_roots,
                                                   tmp_path, monkeypatch):
    import train
    from mmpretrain.datasets import CIFAR100

    # The fake CIFAR files cannot have the real archive's md5 sums.
    monkeypatch.setattr(CIFAR100, '_check_integrity', lambda self: True)
    path = osp.join(CONFIG_DIR, config)
    cfg = Config.fromfile(path)
    root = dataset_root(cfg, data_roots)
    options = [
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint=None'
    ]
    if root is not None:
        options += [
            f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
        ]
    else:  # data that ships with a package (the digits demo)
        options += [
            'train_dataloader.dataset.indices=2',
            'val_dataloader.dataset.indices=2'
        ]
    work_dir = tmp_path / 'work'
    monkeypatch.setattr(sys, 'argv', [
        'train.py', path, '--work-dir',
        str(work_dir), '--cfg-options', *options
    ])
    train.main()
    logs = glob.glob(str(work_dir / '*' / '*.log'))
    assert logs, 'no log written'
    text = open(logs[0]).read()
    assert 'Epoch(train) [1][1/1]' in text
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\]\s+accuracy/top1: [\d.]+',
                     text)

    if any(h['type'] == 'NeuronAllocationHook'
           for h in cfg.get('custom_hooks', [])):
        # The seed run leaves a spec that its retrain config builds.
        retrain = Config.fromfile(str(work_dir / 'retrain_allocated_spec.py'))
        assert retrain.model.backbone.structure == str(
            work_dir / 'allocated_spec.json')
        from mmpretrain.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(retrain.model).eval()
        size = retrain.model.backbone.get(
            'reference_size', 32 if 'Cifar' in retrain.model.backbone.type
            else 224)
        channels = model.backbone.conv1.in_channels
        with torch.no_grad():
            logits = model(
                torch.rand(1, channels, size, size), mode='tensor')
        assert logits.shape == (1, cfg.model.head.num_classes)


USER_CONFIG = """
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
model = dict(backbone=dict(type='ScaleNet', depth=50, structure='scalenet50'))
"""


def test_stock_mmpretrain_config_switches_to_scalenet(data_roots, tmp_path,
                                                      monkeypatch):
    """mmpretrain's own resnet50_8xb32_in1k.py, as shipped, with
    custom_imports and a backbone dict: trains and validates."""
    import train
    config = tmp_path / 'scalenet50_user.py'
    config.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(config))
    assert cfg.model.backbone.type == 'ScaleNet'
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    root = data_roots / 'imagenet'
    work_dir = tmp_path / 'work'
    monkeypatch.setattr(sys, 'argv', [
        'train.py',
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', 'train_dataloader.batch_size=2',
        'val_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint=None',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}'
    ])
    train.main()
    text = open(glob.glob(str(work_dir / '*' / '*.log'))[0]).read()
    assert "type='ScaleNet'" in text
    assert 'accuracy/top1' in text
