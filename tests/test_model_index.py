# Copyright (c) mmscalenet contributors. All rights reserved.
"""The model index: mmpretrain's list_models, get_model, inference_model and
ImageClassificationInferencer find the ImageNet ScaleNets by name; every
entry builds and has the MACs get_flops measures."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import REPO, deepest_slow, run_python
from mmengine.registry import DefaultScope
from mmpretrain import (ImageClassificationInferencer, get_model,
                        inference_model, list_models)

import mmscalenet
from mmscalenet.analysis import config_model_complexity
from mmscalenet.analysis.official_scalenet import OfficialScaleNet
from mmscalenet.converters import convert_official_checkpoint
from mmscalenet.models import PUBLISHED_VARIANTS

with open(osp.join(REPO, 'configs', 'scalenet', 'metafile.yml')) as f:
    METAFILE = yaml.safe_load(f)
ENTRIES = {m['Name']: m for m in METAFILE['Models']}
SCALENET50 = 'scalenet50_3rdparty_8xb32-coslr-120e_in1k'


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """The authors' ScaleNet-50 (random weights, their layout), its
    conversion and an image file."""
    tmp = tmp_path_factory.mktemp('index')
    torch.manual_seed(0)
    official = OfficialScaleNet('scalenet50').eval()
    for m in official.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    torch.save(official.state_dict(), tmp / 'official.pth')
    convert_official_checkpoint(str(tmp / 'official.pth'),
                                str(tmp / 'scalenet50.pth'), 'scalenet50')
    image = np.random.default_rng(0).integers(
        0, 256, size=(180, 240, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp / 'image.png'), image)
    return official, tmp


def test_list_models_finds_the_published_variants():
    assert list_models('*scalenet*') == sorted(ENTRIES)
    assert sorted(ENTRIES) == sorted(
        v.model_index_name for v in PUBLISHED_VARIANTS.values())


@pytest.mark.parametrize('name', deepest_slow(sorted(ENTRIES)))
def test_every_entry_builds_with_get_flops_macs(name):
    entry = ENTRIES[name]
    assert osp.isfile(osp.join(REPO, entry['Config']))
    model = get_model(name).eval()
    result = config_model_complexity(model, 'mmpretrain', (224, 224))
    assert result.macs == entry['Metadata']['FLOPs']
    assert result.params == entry['Metadata']['Parameters']
    (variant, ) = [v for v in PUBLISHED_VARIANTS.values()
                   if v.model_index_name == name]
    assert (variant.macs, variant.params) == (result.macs, result.params)
    assert 'Weights' not in entry  # no URL to fetch: pretrained=PATH
    assert entry['Converted From']['Weights']


def test_get_model_with_converted_weights_gives_the_authors_logits(
        converted):
    official, tmp = converted
    model = get_model(SCALENET50, pretrained=str(tmp / 'scalenet50.pth'))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(
            model.eval()(x, mode='tensor'), official(x), rtol=1e-4,
            atol=1e-4)


def test_inference_model_and_inferencer_on_an_image_file(converted):
    # As in a user's fresh process: other tests leave mmengine's default
    # scope current, in which mmpretrain's inferencer cannot find its
    # transforms (mmpretrain's behaviour, not this package's).
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inference_on_an_image_file(*converted)


def inference_on_an_image_file(official, tmp):
    image = str(tmp / 'image.png')
    result = inference_model(SCALENET50, image,
                             pretrained=str(tmp / 'scalenet50.pth'))
    inferencer = ImageClassificationInferencer(
        SCALENET50, pretrained=str(tmp / 'scalenet50.pth'))
    (again, ) = inferencer(image)
    assert result['pred_label'] == again['pred_label']
    assert len(again['pred_scores']) == 1000
    assert again['pred_class'] == inferencer.classes[again['pred_label']]
    # The same class the authors' model gives on the preprocessed image
    # (resize 256, center crop 224, ImageNet mean/std, as the config says).
    img = cv2.imread(image)
    data = inferencer.pipeline(
        dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    x = inferencer.model.data_preprocessor(
        dict(inputs=[data['inputs']]), False)['inputs']
    with torch.no_grad():
        assert int(official(x).argmax()) == result['pred_label']


def test_unknown_name_and_another_arch_are_refused(converted):
    _, tmp = converted
    with pytest.raises(ValueError, match='Failed to find model "scalenet51'):
        get_model('scalenet51_3rdparty_8xb32-coslr-120e_in1k')
    with pytest.raises(ValueError) as error:
        get_model('scalenet50-light_3rdparty_8xb32-coslr-120e_in1k',
                  pretrained=str(tmp / 'scalenet50.pth'))
    message = str(error.value)
    assert "does not fit ScaleNet-50 with structure 'scalenet50_light'" in \
        message
    assert 'another depth or structure' in message


@pytest.mark.slow
def test_core_import_works_without_mmpretrain():
    code = (
        'import importlib.abc, sys\n'
        'class Block(importlib.abc.MetaPathFinder):\n'
        '    def find_spec(self, name, path, target=None):\n'
        "        if name.split('.')[0] == 'mmpretrain':\n"
        "            raise ImportError('no mmpretrain here')\n"
        'sys.meta_path.insert(0, Block())\n'
        'import mmscalenet\n'
        'from mmscalenet import ScaleNet\n'
        'assert mmscalenet.register_model_index() == []\n'
        "assert 'mmpretrain' not in sys.modules\n"
        "print('ok', type(ScaleNet(50)).__name__)\n")
    out = run_python('-c', code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('ok ScaleNet')
    assert mmscalenet.model_index.model_index_path() == osp.join(
        REPO, 'model-index.yml')


@pytest.mark.slow
def test_the_index_is_registered_when_mmpretrain_is_imported_later():
    """import mmscalenet does not import mmpretrain; importing mmpretrain
    afterwards registers the ScaleNets, once."""
    code = ('import sys\n'
            'import mmscalenet\n'
            "assert 'mmpretrain' not in sys.modules\n"
            'from mmpretrain import list_models\n'
            'assert mmscalenet.register_model_index() == []\n'
            "print(list_models('scalenet50_*'))\n")
    out = run_python('-c', code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"['{SCALENET50}']"
