# Copyright (c) mmscalenet contributors. All rights reserved.
"""Helpers shared by the tests: running the tools, non-trivial norms."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from mmscalenet.analysis.equivalence import randomize_norms  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: A frozen copy of the Fashion-MNIST study's results (2026-12-04): tests
#: read this, never the live file the study keeps writing.
STUDY_FIXTURE = osp.join(REPO, 'tests', 'fixtures',
                         'fashion-mnist-cpu.json.gz')


def study_results() -> dict:
    """The frozen study results (:data:`STUDY_FIXTURE`)."""
    import gzip
    import json
    with gzip.open(STUDY_FIXTURE, 'rt') as f:
        return json.load(f)


def deepest_slow(values: list) -> list:
    """``values`` of a ``parametrize`` over the published variants, each
    naming ScaleNet-152 marked slow: the quick tier checks the shallower
    ones, ``make test`` all (a tuple is one case's arguments)."""
    def case(value):
        args = value if isinstance(value, tuple) else (value, )
        if '152' in str(value):
            return pytest.param(*args, marks=pytest.mark.slow)
        return pytest.param(*args)
    return [case(v) for v in values]


def run_command(args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run ``args`` in the repository root with ``env`` added to this
    process's environment (a variable set to ``None`` removed); the output
    is captured as text."""
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(args,
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          env=environ,
                          timeout=timeout)


def run_python(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python *args`` in the repository root, as a user would."""
    return run_command([sys.executable, *args], env=env, timeout=timeout)


def run_tool(*args, timeout=600) -> str:
    """Run ``python *args``; fail with its output unless it exits 0; return
    stdout and stderr."""
    out = run_python(*args, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def _manager_classes() -> list:
    """Every class with its own mmengine ``ManagerMixin`` instance table."""
    from mmengine.utils import ManagerMixin
    found, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        if '_instance_dict' in vars(cls):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def run_main(script: str, *args) -> subprocess.CompletedProcess:
    """Run the tool ``script`` (a path from the repository root) as
    ``python script *args`` would, in this process: its ``__main__`` with
    that ``sys.argv``, in the repository root, its stdout and stderr
    captured; ``sys.exit`` gives the return code (a message goes to
    stderr), any other exception code 1 with its traceback in stderr.
    What the subprocess tests pay on imports (torch, mmcv, mmengine:
    seconds a call) is paid once per test process; keep one
    :func:`run_python` per tool for what only a fresh interpreter shows.
    The tool starts without mmengine's global instances (default scope,
    visualizer, loggers, message hub), as in a new interpreter, and its
    own end with it: a visualizer another test left is not the tool's
    (an mmseg test script once drew with an mmdet one)."""
    import contextlib
    import io
    import runpy
    import traceback
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    # mmengine's global instances (the default scope a tool sets, loggers,
    # message hubs) as they were: the tool's do not outlive it here.
    managers = {cls: dict(cls._instance_dict)
                for cls in _manager_classes()}
    for cls in managers:
        cls._instance_dict.clear()
    sys.argv = [script, *(str(a) for a in args)]
    os.chdir(REPO)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(osp.join(REPO, script), run_name='__main__')
            except SystemExit as exit_:
                if isinstance(exit_.code, int) or exit_.code is None:
                    code = exit_.code or 0
                else:
                    print(exit_.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001  (reported as python would)
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        for cls, instances in managers.items():
            cls._instance_dict.clear()
            cls._instance_dict.update(instances)
    return subprocess.CompletedProcess(['python', script, *args], code,
                                       out.getvalue(), err.getvalue())


def run_main_tool(script: str, *args) -> str:
    """:func:`run_main`; fail with its output unless it exits 0; return
    stdout and stderr (as :func:`run_tool` does in a new interpreter)."""
    out = run_main(script, *args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def assert_one_line_error(out: subprocess.CompletedProcess, *parts) -> str:
    """``out`` failed with one line on stderr, no traceback, naming each of
    ``parts`` (the value at fault, the advice); returns the line."""
    line = out.stderr.strip()
    assert out.returncode != 0, out.stdout[-2000:]
    assert 'Traceback' not in line and '\n' not in line, line[-3000:]
    for part in parts:
        assert str(part) in line, (part, line)
    return line


def free_port() -> int:
    """A TCP port free on this machine now, for a torchrun rendezvous: a
    fixed port would let two test runs on one machine (a developer's and
    CI's) collide."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def imagenet_scalenet50_checkpoint(path) -> dict:
    """Save an initialised ScaleNet-50 ImageNet classifier (the project's
    config) to ``path`` as training would; return its backbone's state
    dict, keys without the ``backbone.`` prefix (what a detector or a
    segmentor must load through ``init_cfg``)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'scalenet50.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model)
    classifier.init_weights()
    torch.save({'state_dict': classifier.state_dict()}, path)
    return {
        k[len('backbone.'):]: v
        for k, v in classifier.state_dict().items()
        if k.startswith('backbone.')
    }


def assert_same_state(loaded: dict, source: dict) -> None:
    """The same keys, and every tensor equal."""
    assert sorted(loaded) == sorted(source)
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key
