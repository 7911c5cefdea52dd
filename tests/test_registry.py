# Copyright (c) mmscalenet contributors. All rights reserved.
"""ScaleNet resolves from mmdet and mmpretrain configs via custom_imports."""
import textwrap

import pytest
from helpers import run_python
from mmengine.registry import DefaultScope

import mmscalenet
from mmscalenet.models import (CifarResNet, CifarScaleNet, SABlock,
                               ScaleNet)

BUILDS = [
    (dict(type='ScaleNet', depth=50), ScaleNet),
    (dict(type='mmscalenet.ScaleNet', depth=101), ScaleNet),
    (dict(type='SABlock', in_channels=8, out_channels=[4, 4],
          pool_factors=(1, 2)), SABlock),
    (dict(type='mmscalenet.SABlock', in_channels=8, out_channels=[4, 4],
          pool_factors=(1, 2)), SABlock),
    (dict(type='CifarScaleNet', depth=38), CifarScaleNet),
    (dict(type='CifarResNet', depth=56), CifarResNet),
]


def registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    return {'mmdet': MMDET_MODELS, 'mmpretrain': MMPRETRAIN_MODELS}


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
@pytest.mark.parametrize('cfg, cls', BUILDS)
def test_build_in_scope(scope, cfg, cls):
    registry = registries()[scope]
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(cfg))
    assert type(model) is cls


def test_own_registry_has_the_models():
    assert mmscalenet.registry.MODELS.get('ScaleNet') is ScaleNet
    assert mmscalenet.registry.MODELS.scope == 'mmscalenet'


CONFIG = """
custom_imports = dict(imports=['mmscalenet'], allow_failed_imports=False)
default_scope = '{scope}'
model = dict(type='ScaleNet', depth=50, out_indices=(3, ))
scoped_model = dict(type='mmscalenet.ScaleNet', depth=50, out_indices=(3, ))
"""

SCRIPT = """
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
assert 'mmscalenet' not in sys.modules
cfg = Config.fromfile(sys.argv[1])
assert 'mmscalenet' in sys.modules, 'custom_imports did not import it'
init_default_scope(cfg.default_scope)
from {scope}.registry import MODELS
for model_cfg in (cfg.model, cfg.scoped_model):
    model = MODELS.build(model_cfg)
    print(type(model).__module__, type(model).__name__, model.feat_dim)
"""


@pytest.mark.slow  # a fresh interpreter each
@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_custom_imports_in_a_fresh_process(tmp_path, scope):
    """Both spellings of the type, ``ScaleNet`` and ``mmscalenet.ScaleNet``,
    resolve in a process where only the config's custom_imports imported
    the package."""
    config = tmp_path / 'cfg.py'
    config.write_text(CONFIG.format(scope=scope))
    out = run_python('-c', textwrap.dedent(SCRIPT.format(scope=scope)),
                     str(config))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        'mmscalenet.models.scalenet', 'ScaleNet', '2048'
    ] * 2
