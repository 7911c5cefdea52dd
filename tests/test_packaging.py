# Copyright (c) mmscalenet contributors. All rights reserved.
"""What a user installs: the wheel carries the configs, the tools and the
model index in mim's layout; the install metadata says what the code needs;
missing optional pieces fail or degrade with a clear message."""
import ast
import logging
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
from helpers import REPO, run_command, run_python

import mmscalenet
from mmscalenet.allocation import writer
from mmscalenet.models import ChannelSpec
from mmscalenet.rewrites import pooling

SITE_PACKAGES = next(p for p in sys.path
                     if p.endswith('site-packages') and osp.isdir(p))


def repo_files(folder):
    return sorted(
        osp.relpath(osp.join(root, name), REPO)
        for root, _, names in os.walk(osp.join(REPO, folder))
        for name in names if '__pycache__' not in root)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    # Built from a copy of the files git knows (setuptools writes build/
    # and the .mim copy into the source tree): the checkout stays as it is.
    src = tmp_path_factory.mktemp('src')
    files = run_command(['git', 'ls-files', '-co', '--exclude-standard'])
    for name in files.stdout.split():
        os.makedirs(src / osp.dirname(name), exist_ok=True)
        shutil.copy2(osp.join(REPO, name), src / name)
    dist = tmp_path_factory.mktemp('dist')
    out = run_command([
        sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
        '--no-build-isolation', '-w',
        str(dist), str(src)
    ])
    assert out.returncode == 0, out.stderr[-3000:]
    (path, ) = dist.glob('mmscalenet-*.whl')
    return path


def test_the_wheel_carries_configs_tools_and_the_index(wheel):
    """Every config and user tool; the maintainers' tools/dev stays out."""
    names = set(zipfile.ZipFile(wheel).namelist())
    tools = [p for p in repo_files('tools') if not p.startswith('tools/dev/')]
    for path in repo_files('configs') + tools + ['model-index.yml']:
        assert f'mmscalenet/.mim/{path}' in names, path
    assert not any(n.startswith('mmscalenet/.mim/tools/dev/') for n in names)
    assert 'mmscalenet/structures/scalenet50.json' in names
    assert not any(n.startswith(('configs/', 'tools/', 'tests/'))
                   for n in names)
    assert not osp.exists(osp.join(REPO, 'mmscalenet', '.mim'))


@pytest.mark.slow
def test_mim_trains_and_tests_from_outside_the_checkout(wheel, tmp_path):
    # A throw-away venv that sees the project's packages (not its
    # editable mmscalenet, whose finder is not run from a plain path) and
    # has the wheel installed in its own site-packages, which come first.
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    site = subprocess.run(
        [python, '-c',
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    with open(osp.join(site, 'project-site-packages.pth'), 'w') as f:
        f.write(SITE_PACKAGES + '\n')
    out = run_command([sys.executable, '-m', 'pip', 'install', '-q',
                       '--no-deps', '--no-index', '--target', site,
                       str(wheel)])
    assert out.returncode == 0, out.stderr[-2000:]
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()

    def run(*args):
        result = subprocess.run([python, *args], capture_output=True,
                                text=True, cwd=elsewhere, timeout=600,
                                env=dict(os.environ, OMP_NUM_THREADS='1'))
        assert result.returncode == 0, result.stdout[-2000:] + \
            result.stderr[-3000:]
        return result.stdout + result.stderr

    text = run('-c', 'import mmscalenet, mmpretrain; '
               'print(mmscalenet.__file__); '
               'print(mmscalenet.model_index.model_index_path()); '
               "print(mmpretrain.list_models('*scalenet*'))")
    assert f'{site}/mmscalenet/__init__.py' in text
    assert f'{site}/mmscalenet/.mim/model-index.yml' in text
    assert 'scalenet152_3rdparty_8xb32-coslr-120e_in1k' in text
    work = elsewhere / 'work'
    text = run('-m', 'mim', 'train', 'mmscalenet',
               'scalenet38-seed_1xb64_digits.py', '--work-dir', str(work),
               '--cfg-options', 'train_cfg.max_epochs=1',
               'train_dataloader.dataset.indices=64')
    assert f'{site}/mmscalenet/.mim/tools/train.py' in text
    assert (work / 'epoch_1.pth').is_file()
    assert (work / 'allocated_spec.json').is_file()
    text = run('-m', 'mim', 'test', 'mmscalenet',
               'scalenet38-seed_1xb64_digits.py', '--checkpoint',
               str(work / 'epoch_1.pth'), '--work-dir', str(tmp_path / 't'))
    assert 'accuracy/top1:' in text


def setup_call():
    """The keyword arguments of setup() in setup.py."""
    tree = ast.parse(open(osp.join(REPO, 'setup.py')).read())
    call = next(node for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and getattr(node.func, 'id', '') == 'setup')
    return {k.arg: k.value for k in call.keywords}


def test_install_metadata_states_what_the_code_needs():
    kwargs = setup_call()
    requires = ast.literal_eval(kwargs['install_requires'])
    extras = ast.literal_eval(kwargs['extras_require'])
    assert 'numpy<2' in requires  # mmcv 2.1's ops break on numpy 2
    assert 'torch>=2.0' in requires
    assert extras['plot'] == ['matplotlib']
    for extra in ('det', 'cls'):
        assert 'setuptools<70' in extras[extra]  # pkg_resources


def test_compile_check_works_without_torch_compiler_is_compiling(
        monkeypatch):
    # torch 2.0-2.2 have no torch.compiler.is_compiling, and their
    # torch._dynamo.is_compiling does not call it (torch 2.14's does).
    import torch._dynamo as dynamo
    monkeypatch.setattr(torch, 'compiler', object())
    calls = []
    monkeypatch.setattr(dynamo, 'is_compiling',
                        lambda: calls.append(1) or False)
    assert pooling.is_compiling() is False and calls == [1]
    x = torch.rand(1, 4, 8, 8)
    with torch.no_grad():
        assert pooling.in_eager_inference(x)
    assert not pooling.in_eager_inference(x.requires_grad_())


def test_allocation_without_matplotlib_writes_spec_and_warns(
        tmp_path, monkeypatch):
    find_spec = writer.importlib.util.find_spec
    monkeypatch.setattr(
        writer.importlib.util, 'find_spec', lambda name, *a:
        None if name == 'matplotlib' else find_spec(name, *a))
    messages = []
    monkeypatch.setattr(writer, 'print_log',
                        lambda msg, **kwargs: messages.append((msg, kwargs)))
    spec = ChannelSpec([[1, 1, 2, 8], [2, 1, 1, 8]])
    paths = writer.write_allocation(spec, str(tmp_path), plot=True)
    assert sorted(paths) == ['spec']
    ((message, kwargs), ) = messages
    assert message.startswith('matplotlib is not installed: no allocation '
                              'plot is drawn')
    assert kwargs['level'] == logging.WARNING
    assert sorted(os.listdir(tmp_path)) == ['allocated_spec.json']


@pytest.mark.slow
def test_mmdet_bases_without_pkg_resources_fail_in_one_line():
    code = (
        'import importlib.abc, runpy, sys\n'
        'class Block(importlib.abc.MetaPathFinder):\n'
        '    def find_spec(self, name, path, target=None):\n'
        "        if name == 'pkg_resources':\n"
        "            raise ModuleNotFoundError('blocked', name=name)\n"
        'sys.meta_path.insert(0, Block())\n'
        "sys.modules.pop('pkg_resources', None)\n"
        "sys.argv = ['tools/train.py', "
        "'configs/faster_rcnn/faster-rcnn_r50_fpn_8xb2-10e_coco-600x1000.py']\n"
        "runpy.run_path('tools/train.py', run_name='__main__')\n")
    out = run_python('-c', code)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('error: configs/faster_rcnn/faster-rcnn_r50_fpn')
    assert 'pkg_resources is not installed: pip install "setuptools<70"' \
        in last
    assert 'Traceback' not in out.stderr
    assert mmscalenet.__version__
