# Copyright (c) mmscalenet contributors. All rights reserved.
"""A truncated or corrupt checkpoint ends every tool in one line naming it,
and mmengine's loader (get_model, init_cfg, load_from) in an exception that
does; a whole checkpoint of either torch format passes."""
import os.path as osp

import pytest
import torch
from helpers import run_main, run_python
from mmengine.runner import load_checkpoint

import mmscalenet  # noqa: F401  (guards mmengine's local loader)
from mmscalenet.checkpoint_integrity import (CorruptCheckpointError,
                                             check_checkpoint_file)
from mmscalenet.models import CifarScaleNet

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEED_CONFIG = 'configs/demo/scalenet38-seed_1xb64_digits.py'
REMEDY = ('copy or download it again, or pick another checkpoint (a work '
          'dir\'s last_checkpoint file names its latest)')
TRUNCATED = ('is truncated or corrupt (its zip index is missing: the file '
             'ends early, as an interrupted copy or save leaves it); ' +
             REMEDY)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A whole checkpoint of the demo's seed net, its first half, and one
    with a flipped byte inside a tensor."""
    folder = tmp_path_factory.mktemp('ckpt')
    model = CifarScaleNet(38, structure='seed', reference_size=16)
    whole = folder / 'whole.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, whole)
    data = whole.read_bytes()
    half = folder / 'half.pth'
    half.write_bytes(data[:len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    corrupt = folder / 'corrupt.pth'
    corrupt.write_bytes(bytes(flipped))
    return dict(whole=whole, half=half, corrupt=corrupt, folder=folder)


def test_whole_checkpoints_of_both_formats_pass(checkpoints, tmp_path):
    check_checkpoint_file(str(checkpoints['whole']))
    legacy = tmp_path / 'legacy.pth'
    torch.save({'a': torch.ones(3)}, legacy,
               _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(legacy))


@pytest.mark.parametrize('name,message', [
    ('half', TRUNCATED),
    ('corrupt', 'is truncated or corrupt (member '),
])
def test_bad_checkpoints_are_named(checkpoints, name, message):
    path = str(checkpoints[name])
    with pytest.raises(CorruptCheckpointError) as error:
        check_checkpoint_file(path, 'load_from checkpoint')
    assert str(error.value).startswith(f'load_from checkpoint {path} ')
    assert message in str(error.value)


def test_empty_and_foreign_files(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match='is empty; copy'):
        check_checkpoint_file(str(empty))
    text = tmp_path / 'notes.pth'
    text.write_text('# notes\n')
    with pytest.raises(CorruptCheckpointError,
                       match=r"is not a PyTorch checkpoint \(it starts with "
                       r"b'# no'\)"):
        check_checkpoint_file(str(text))
    with pytest.raises(FileNotFoundError, match='checkpoint not found: '):
        check_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_mmengine_loads_are_guarded(checkpoints):
    """get_model(pretrained=), init_cfg Pretrained and load_from all go
    through mmengine's local loader."""
    model = CifarScaleNet(38, structure='seed', reference_size=16)
    load_checkpoint(model, str(checkpoints['whole']), map_location='cpu')
    with pytest.raises(CorruptCheckpointError) as error:
        load_checkpoint(model, str(checkpoints['half']), map_location='cpu')
    assert f'checkpoint {checkpoints["half"]} {TRUNCATED}' == str(error.value)
    pretrained = CifarScaleNet(
        38, structure='seed', reference_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoints['half'])))
    with pytest.raises(CorruptCheckpointError):
        pretrained.init_weights()


def one_line(out, *named):
    """A refusal in one last line naming each of ``named`` (the file at
    fault, what is wrong with it, the flag that named it)."""
    assert out.returncode != 0
    assert 'Traceback' not in out.stderr, out.stderr[-2000:]
    line = out.stderr.strip().splitlines()[-1]
    for part in named:
        assert part in line, (part, line)


@pytest.mark.slow
def test_every_tool_ends_in_one_line(checkpoints, tmp_path):
    half = str(checkpoints['half'])
    one_line(run_main('tools/test.py', SEED_CONFIG, half),
             'error: checkpoint', half, TRUNCATED)
    one_line(
        run_main('tools/train.py', SEED_CONFIG, '--resume', half,
                 '--work-dir', str(tmp_path / 'w')),
        'error: --resume checkpoint', half, TRUNCATED)
    one_line(
        run_main('tools/allocate.py', SEED_CONFIG, half, '--out',
                 str(tmp_path / 'a')),
        'allocate: checkpoint', half, TRUNCATED)
    assert not (tmp_path / 'a').exists()
    one_line(
        run_python('tools/convert_official.py', half,
                   str(tmp_path / 'c.pth'), '--arch', 'scalenet50'),
        'convert_official: checkpoint', half, TRUNCATED)
    assert not (tmp_path / 'c.pth').exists()


@pytest.mark.slow
def test_auto_resume_from_a_truncated_latest(checkpoints, tmp_path):
    """--resume without a path resumes from the work dir's last checkpoint:
    a truncated one (an interrupted copy of the work dir) is named."""
    work = tmp_path / 'work'
    work.mkdir()
    half = str(checkpoints['half'])
    (work / 'last_checkpoint').write_text(half)
    one_line(
        run_main('tools/train.py', SEED_CONFIG, '--resume', '--work-dir',
                 str(work)),
        '--resume checkpoint', f'(from {work}/last_checkpoint)', half,
        TRUNCATED)


@pytest.mark.slow
def test_load_from_in_the_config(checkpoints, tmp_path):
    half = str(checkpoints['half'])
    one_line(
        run_main('tools/train.py', SEED_CONFIG, '--work-dir',
                 str(tmp_path / 'w'), '--cfg-options', f'load_from={half}'),
        'error: load_from checkpoint', half, TRUNCATED)


@pytest.fixture(scope='module')
def safetensors_files(tmp_path_factory):
    """The demo seed net's weights as safetensors, whole, cut short, with
    a header that promises more than the file holds, and not JSON."""
    from safetensors.torch import save_file
    folder = tmp_path_factory.mktemp('safetensors')
    model = CifarScaleNet(38, structure='seed', reference_size=16)
    whole = folder / 'whole.safetensors'
    save_file(model.state_dict(), str(whole))
    data = whole.read_bytes()
    files = dict(model=model, whole=whole)
    for name, content in (('half', data[:len(data) // 2]),
                          ('short', data[:-1]),
                          ('garbled', data[:8] + b'#' + data[9:]),
                          ('tiny', data[:5])):
        files[name] = folder / f'{name}.safetensors'
        files[name].write_bytes(content)
    return files


@pytest.mark.parametrize('name,problem', [
    ('half', 'its tensors span '),
    ('short', 'its tensors span '),
    ('garbled', 'its header is not JSON'),
    ('tiny', '5 bytes, shorter than the header length'),
])
def test_bad_safetensors_files_are_named(safetensors_files, name, problem):
    path = str(safetensors_files[name])
    with pytest.raises(CorruptCheckpointError) as error:
        check_checkpoint_file(path)
    message = str(error.value)
    assert message.startswith(f'checkpoint {path} is truncated or corrupt (')
    assert problem in message and '\n' not in message
    with pytest.raises(CorruptCheckpointError):  # mmengine's loader too
        load_checkpoint(CifarScaleNet(38, structure='seed',
                                      reference_size=16), path)


def test_mmengine_loads_a_whole_safetensors_file(safetensors_files):
    check_checkpoint_file(str(safetensors_files['whole']))
    model = CifarScaleNet(38, structure='seed', reference_size=16)
    load_checkpoint(model, str(safetensors_files['whole']), strict=True)
    for key, value in safetensors_files['model'].state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
