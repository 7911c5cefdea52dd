# Copyright (c) mmscalenet contributors. All rights reserved.
"""tools/deploy.py: an MMPretrain classifier and a detector's backbone
exported to ONNX and OpenVINO IR, each file checked again here against
the PyTorch model it came from; and its refusals, one line each, with
nothing written."""
import hashlib
import importlib.util
import os
import os.path as osp
import sys

import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest
import torch
from helpers import REPO, randomize_norms, run_python
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

sys.path.insert(0, osp.join(REPO, 'tools'))
import deploy  # noqa: E402

CLASSIFIER = f'{REPO}/configs/_base_/models/scalenet50.py'
DETECTOR = f'{REPO}/configs/_base_/models/faster-rcnn_scalenet50_fpn.py'


@pytest.fixture(scope='module')
def classifier_checkpoint(tmp_path_factory):
    from mmengine.config import Config
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = randomize_norms(MODELS.build(Config.fromfile(CLASSIFIER).model),
                            seed=1)
    path = tmp_path_factory.mktemp('deploy') / 'scalenet50.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def shas(stdout):
    return dict(line.split('  ')[::-1] for line in stdout.splitlines()
                if len(line.split('  ')) == 2 and len(line.split()[0]) == 64)


@pytest.mark.slow
def test_a_classifier_exports_to_both_engines_with_its_logits(
        classifier_checkpoint, tmp_path, capsys):
    out = tmp_path / 'out'
    deploy.main([CLASSIFIER, str(out), '--checkpoint',
                 str(classifier_checkpoint), '--shape', '64', '96'])
    printed = capsys.readouterr().out
    for engine in ('onnxruntime', 'openvino'):
        assert f'{engine}: largest difference to PyTorch' in printed
    files = shas(printed)
    assert sorted(osp.basename(f) for f in files) == [
        'scalenet50.bin', 'scalenet50.onnx', 'scalenet50.xml'
    ]
    for path, digest in files.items():
        assert hashlib.sha256(open(path, 'rb').read()).hexdigest() == digest
    assert sorted(os.listdir(out)) == sorted(map(osp.basename, files))
    # Against the classifier as trained (norms not folded), on new images.
    from mmengine.config import Config
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(CLASSIFIER).model)
    load_checkpoint(model, str(classifier_checkpoint), logger='silent')
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = model.eval()(x, mode='tensor').numpy()
    got = ort.InferenceSession(str(out / 'scalenet50.onnx')).run(
        None, {'image': x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    compiled = ov.Core().compile_model(
        str(out / 'scalenet50.xml'), 'CPU',
        {'INFERENCE_PRECISION_HINT': 'f32'})
    np.testing.assert_allclose(compiled(x.numpy())[0], expected, rtol=1e-4,
                               atol=1e-4)


def test_a_detectors_backbone_exports_its_four_maps(tmp_path, capsys):
    deploy.main([DETECTOR, str(tmp_path), '--shape', '64', '96',
                 '--backend', 'onnxruntime'])
    assert 'openvino' not in capsys.readouterr().out
    path = tmp_path / 'faster-rcnn_scalenet50_fpn_backbone.onnx'
    session = ort.InferenceSession(str(path))
    outputs = session.run(None, {'image': np.zeros((1, 3, 64, 96),
                                                   np.float32)})
    assert [o.shape[1:] for o in outputs] == [(256, 16, 24), (512, 8, 12),
                                              (1024, 4, 6), (2048, 2, 3)]


def refused(argv, capsys):
    with pytest.raises(SystemExit) as e:
        deploy.main(argv)
    message = str(e.value.code)
    assert message.startswith('deploy: ') and '\n' not in message
    return message


def test_bad_input_is_refused_in_one_line_with_nothing_written(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / 'out'
    resnet = f'{REPO}/configs/_base_/models/resnet50.py'
    assert 'builds no ScaleNet' in refused([resnet, str(out)], capsys)
    missing = tmp_path / 'missing.pth'
    assert str(missing) in refused(
        [CLASSIFIER, str(out), '--checkpoint', str(missing)], capsys)
    (tmp_path / 'a_file').write_text('')
    below = tmp_path / 'a_file' / 'out'
    message = refused([CLASSIFIER, str(below)], capsys)
    assert str(below) in message and 'for the exported files' in message
    assert 'got [16, 16]' in refused(
        [CLASSIFIER, str(out), '--shape', '16', '16'], capsys)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec', lambda name, *a:
        None if name == 'openvino' else find_spec(name, *a))
    assert 'not installed: openvino' in refused([CLASSIFIER, str(out)],
                                                capsys)
    assert not out.exists()


@pytest.mark.slow
def test_the_tool_as_a_user_runs_it(tmp_path):
    """One real process: a refusal is one line on stderr, no traceback."""
    out = run_python('tools/deploy.py', f'{REPO}/configs/_base_/models/'
                     'resnet50.py', str(tmp_path / 'out'))
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert out.stderr.strip().startswith('deploy: ')
    assert len(out.stderr.strip().splitlines()) == 1
