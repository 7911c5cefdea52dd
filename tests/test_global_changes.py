# Copyright (c) mmscalenet contributors. All rights reserved.
"""What ``import mmscalenet`` changes in torch and mmengine: applied and
logged once at debug level by default, left alone with
MMSCALENET_GLOBAL_CHANGES=0 (and then an mmengine checkpoint no longer
loads under torch's safe loading: the trade-off the docs state)."""
import sys

import pytest
from helpers import run_command

from mmscalenet.global_changes import ENV_VAR, global_changes_enabled

PROBE = '''
import logging, sys, torch
from mmengine.logging.history_buffer import HistoryBuffer
history = HistoryBuffer()
history.update(0.5)  # a loss, as a run's message hub holds it
torch.save({"message_hub": history}, sys.argv[1])
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout,
                    format="%(name)s %(levelname)s %(message)s")
import mmscalenet
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
print("loader replaced:", CheckpointLoader._schemes[""] is not load_from_local)
print("HistoryBuffer allowed:",
      HistoryBuffer in torch.serialization.get_safe_globals())
try:
    torch.load(sys.argv[1])
    print("mmengine checkpoint loads: True")
except Exception as e:
    print("mmengine checkpoint loads: False", type(e).__name__)
'''


def probe(tmp_path, value=None):
    env = {} if value is None else dict(MMSCALENET_GLOBAL_CHANGES=value)
    out = run_command([sys.executable, '-c', PROBE,
                       str(tmp_path / 'ckpt.pth')], env=env)
    return out


def test_the_changes_are_applied_and_logged_once(tmp_path):
    out = probe(tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert 'loader replaced: True' in lines
    assert 'HistoryBuffer allowed: True' in lines
    assert 'mmengine checkpoint loads: True' in lines
    logged = [line for line in lines if line.startswith('mmscalenet DEBUG')]
    assert len(logged) == 1
    assert 'MMSCALENET_GLOBAL_CHANGES=0 turns both off' in logged[0]


@pytest.mark.slow
def test_the_variable_turns_them_off(tmp_path):
    out = probe(tmp_path, '0')
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert 'loader replaced: False' in lines
    assert 'HistoryBuffer allowed: False' in lines
    assert 'mmengine checkpoint loads: False UnpicklingError' in lines
    assert [line for line in lines if line.startswith('mmscalenet DEBUG')
            ] == ['mmscalenet DEBUG mmscalenet: MMSCALENET_GLOBAL_CHANGES=0: '
                  'torch safe loading and mmengine\'s checkpoint loader left '
                  'as they are']


@pytest.mark.parametrize('value, enabled',
                         [('1', True), ('on', True), (' True', True),
                          ('yes', True), ('0', False), ('off', False),
                          ('FALSE ', False), ('no', False)])
def test_every_spelling_of_on_and_off(monkeypatch, value, enabled):
    """Read at import (above, in a new interpreter, 0 and unset): the
    spellings of on and off, any case, spaces around."""
    monkeypatch.setenv(ENV_VAR, value)
    assert global_changes_enabled() is enabled


@pytest.mark.slow
def test_another_value_is_refused_naming_it(monkeypatch):
    """Code can catch the refusal (a ``ValueError``); a tool, where
    nothing does, ends in one line that names the variable and the value
    (in a new interpreter: the variable is read at import)."""
    monkeypatch.setenv(ENV_VAR, 'maybe')
    with pytest.raises(ValueError, match=f"{ENV_VAR}.*'maybe'"):
        global_changes_enabled()
    tool = run_command([sys.executable, 'tools/test.py', 'cfg.py', 'x.pth'],
                       env=dict(MMSCALENET_GLOBAL_CHANGES='maybe'))
    assert tool.returncode != 0
    assert len(tool.stderr.strip().splitlines()) == 1, tool.stderr
    assert tool.stderr.startswith('error: MMSCALENET_GLOBAL_CHANGES')
    assert "'maybe'" in tool.stderr and '1 or 0' in tool.stderr
