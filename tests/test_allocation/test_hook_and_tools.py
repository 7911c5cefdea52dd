# Copyright (c) mmscalenet contributors. All rights reserved.
"""NeuronAllocationHook in a real Runner, the offline tool, the plot tool
and a 2-process run (the pipeline around them: tests/test_study)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import (assert_one_line_error, free_port, run_command, run_main,
                     run_python)
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmscalenet.engine import NeuronAllocationHook
from mmscalenet.errors import ConfigError
from mmscalenet.models import (STRUCTURE_NAMES, ChannelSpec, CifarScaleNet,
                               SABlock)
from mmscalenet.models.sa_geometry import conv3x3_macs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEED_CONFIG = osp.join(REPO, 'configs', 'demo',
                       'scalenet38-seed_1xb64_digits.py')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def small_seed_cfg(work_dir, **hook_kwargs):
    """The demo's seed config, 1 epoch on 128 images."""
    cfg = Config.fromfile(SEED_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler.T_max = cfg.param_scheduler.end = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.train_dataloader.dataset.indices = 128
    cfg.val_dataloader.dataset.indices = 120
    cfg.custom_hooks = [dict(type='NeuronAllocationHook', **hook_kwargs)]
    return cfg


@pytest.fixture(scope='module')
def trained_seed(tmp_path_factory):
    """A seed net trained one epoch with the hook; its runner and files."""
    work_dir = tmp_path_factory.mktemp('seed')
    runner = Runner.from_cfg(small_seed_cfg(work_dir))
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, NeuronAllocationHook)][0]
    return runner, hook, work_dir


def test_hook_writes_spec_config_and_plot(trained_seed):
    runner, hook, work_dir = trained_seed
    assert sorted(hook.paths) == ['config', 'plot', 'spec']
    assert hook.paths['spec'] == str(work_dir / 'allocated_spec.json')
    with open(hook.paths['spec']) as f:
        data = json.load(f)
    meta = data['meta']
    assert meta['budget_ratio'] == 1.0 and meta['b'] == 0.0
    assert len(meta['block_macs']) == len(data['rows']) == 12
    assert 'epoch 1' in meta['source']
    with open(hook.paths['plot'], 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    # The spec fits a CIFAR ScaleNet-38 and respects every budget.
    spec = ChannelSpec.load(hook.paths['spec'])
    model = CifarScaleNet(38, structure=spec, reference_size=16)
    out = model(torch.rand(2, 3, 16, 16))
    assert out[-1].shape == (2, 256, 4, 4)
    widths = [16] * 4 + [32] * 4 + [64] * 4
    for k, (macs, budget) in enumerate(
            zip(meta['block_macs'], meta['block_budgets'])):
        side = spec.sides[k]
        assert budget == conv3x3_macs(widths[k], widths[k], side)
        assert 0 < macs <= budget


def test_retrain_config_trains_the_allocated_net(trained_seed, tmp_path):
    _, hook, _ = trained_seed
    cfg = Config.fromfile(hook.paths['config'])
    assert cfg.model.backbone.structure == hook.paths['spec']
    assert cfg.custom_hooks == []
    assert cfg.load_from is None
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg = dict(by_epoch=False, max_iters=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        by_epoch=False)
    cfg.train_dataloader.dataset.indices = 64
    runner = Runner.from_cfg(cfg)
    runner.train()
    backbone = runner.model.backbone
    spec = ChannelSpec.load(hook.paths['spec'])
    assert [blk.conv2.out_channels for blk in backbone.layer1] == [
        list(c) for c in spec.channels[:4]
    ]


def test_offline_tool_agrees_with_the_hook(trained_seed, tmp_path):
    runner, hook, work_dir = trained_seed
    out = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'),
                   '--out', str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    offline = ChannelSpec.load(str(tmp_path / 'allocated_spec.json'))
    assert offline == ChannelSpec.load(hook.paths['spec'])
    assert (tmp_path / 'retrain_allocated_spec.py').is_file()
    assert (tmp_path / 'allocated_spec.png').is_file()


def test_existing_spec_is_never_overwritten(trained_seed, tmp_path):
    _, hook, work_dir = trained_seed
    before = (work_dir / 'allocated_spec.json').read_bytes()
    out = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'),
                   '--out', str(work_dir), '--budget-ratio', '0.7')
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work_dir / 'allocated_spec.json').read_bytes() == before
    light = ChannelSpec.load(str(work_dir / 'allocated_spec_1.json'))
    assert light.meta['budget_ratio'] == 0.7
    assert (work_dir / 'retrain_allocated_spec_1.py').is_file()


def test_offline_even_allocation(trained_seed, tmp_path):
    _, _, work_dir = trained_seed
    out = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'),
                   '--out', str(tmp_path), '--even')
    assert out.returncode == 0, out.stderr[-3000:]
    spec = ChannelSpec.load(str(tmp_path / 'even_spec.json'))
    model = CifarScaleNet(38, structure='even', reference_size=16)
    assert spec == model.spec


@pytest.mark.slow
def test_checkpoint_that_does_not_fit_the_seed_spec(tmp_path):
    even = CifarScaleNet(38, structure='even', reference_size=16)
    ckpt = tmp_path / 'even.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in even.state_dict().items()}}, ckpt)
    out = run_main('tools/allocate.py', SEED_CONFIG, str(ckpt), '--out',
                   str(tmp_path / 'out'))
    assert out.returncode != 0
    assert "does not fit the config's seed spec" in out.stderr
    assert 'backbone.layer1.0.conv2.convs.0.weight' in out.stderr
    assert not (tmp_path / 'out').exists()


def test_config_without_scalenet_is_refused(tmp_path):
    resnet_cfg = osp.join(REPO, 'configs', 'demo', 'resnet38_1xb64_digits.py')
    cfg = Config.fromfile(resnet_cfg)
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'resnet.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = run_main('tools/allocate.py', resnet_cfg, str(ckpt), '--out',
                   str(tmp_path / 'out'))
    assert out.returncode != 0
    assert 'no ScaleNet backbone in the model (ImageClassifier)' in out.stderr


def test_impossible_budget_in_the_hook(tmp_path):
    runner = Runner.from_cfg(
        small_seed_cfg(tmp_path, budget_ratio=1e-6))
    with pytest.raises(RuntimeError, match='neuron allocation failed on rank '
                       '0: AllocationError: block 0: budget'):
        runner.train()
    assert not (tmp_path / 'allocated_spec.json').exists()


@pytest.mark.parametrize('name', STRUCTURE_NAMES)
def test_plot_of_the_authors_structures(tmp_path, name):
    path = tmp_path / f'{name}.png'
    out = run_main('tools/plot_allocation.py', name, '--out', str(path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 10000


@pytest.mark.slow
def test_plot_tool_names_a_bad_spec(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('[[1, -2, 56]]')
    out = run_python('tools/plot_allocation.py', str(bad), '--out',
                     str(tmp_path / 'x.png'))
    assert out.returncode != 0
    assert 'block 0, scale 1' in out.stderr and 'got -2' in out.stderr
    assert not (tmp_path / 'x.png').exists()


RANK_HOOKS = """
import json, os
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmscalenet.allocation import find_scalenet


@HOOKS.register_module()
class ScrambleGammasOnRank1(Hook):
    # Runs before the allocation hook (LOW): if rank 1 allocated from its
    # own model, its result would differ from rank 0's.
    priority = 'HIGH'

    def after_train(self, runner):
        if os.environ['RANK'] == '1':
            g = torch.Generator().manual_seed(1)
            for m in find_scalenet(runner.model).modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.data = torch.rand(m.weight.shape, generator=g)


@HOOKS.register_module()
class DumpEachRanksAllocation(Hook):
    # After the allocation hook: what each rank holds as the result.
    priority = 'LOWEST'

    def after_train(self, runner):
        hook = next(h for h in runner.hooks
                    if type(h).__name__ == 'NeuronAllocationHook')
        path = os.path.join(runner.work_dir, f"rank{os.environ['RANK']}.json")
        with open(path, 'w') as f:
            json.dump(hook.result.spec.rows(), f)
"""


@pytest.mark.slow
def test_dist_train_script_on_cpu_agrees_on_rank_0s_allocation(tmp_path):
    """``tools/dist_train.sh CONFIG 2`` as a user runs it, on a machine
    without CUDA: gloo, two ranks, both holding rank 0's allocation (rank
    1's gammas are scrambled before it), the hook's files written once by
    rank 0, and a clean exit of both ranks (the process group shut down).
    """
    (tmp_path / 'rank_hooks.py').write_text(RANK_HOOKS)
    work = tmp_path / 'work'
    cfg = small_seed_cfg(work)
    cfg.custom_imports.imports = [*cfg.custom_imports.imports, 'rank_hooks']
    cfg.custom_hooks += [
        dict(type='ScrambleGammasOnRank1'),
        dict(type='DumpEachRanksAllocation')
    ]
    config = tmp_path / 'seed_dist.py'
    cfg.dump(str(config))
    out = run_command(['bash', 'tools/dist_train.sh',
                       str(config), '2'],
                      env=dict(
                          OMP_NUM_THREADS='1',
                          PORT=str(free_port()),
                          PYTHONPATH=str(tmp_path),
                          PATH=osp.dirname(sys.executable) + os.pathsep +
                          os.environ['PATH']))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    # The config asks for nccl; each rank says it fell back to gloo.
    assert out.stdout.count('no CUDA device: using the gloo backend') == 2
    rank0 = json.loads((work / 'rank0.json').read_text())
    rank1 = json.loads((work / 'rank1.json').read_text())
    assert rank0 == rank1
    assert ChannelSpec.load(str(work / 'allocated_spec.json')).rows() == rank0
    # One rank wrote, once.
    assert (work / 'epoch_1.pth').is_file()
    assert not (work / 'allocated_spec_1.json').exists()
    # The agreed result is rank 0's: the offline allocation of the saved
    # checkpoint (rank 0's weights) gives it, rank 1's scrambled gammas
    # would not.
    single = run_command([
        sys.executable, 'tools/allocate.py',
        str(config),
        str(work / 'epoch_1.pth'), '--out',
        str(tmp_path / 'single')
    ], env=dict(PYTHONPATH=str(tmp_path)))
    assert single.returncode == 0, single.stderr[-2000:]
    assert ChannelSpec.load(str(tmp_path / 'single' /
                                'allocated_spec.json')).rows() == rank0


FAILING_RANK_SCRIPT = """
import os, sys
from types import SimpleNamespace
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
import mmscalenet
from mmscalenet import CifarScaleNet
from mmscalenet.engine import NeuronAllocationHook
from mmscalenet.errors import ConfigError
rank, out = os.environ['RANK'], sys.argv[1]
dist.init_process_group('gloo')
runner = SimpleNamespace(
    model=CifarScaleNet(38, structure='seed'), work_dir=out, epoch=1, iter=1,
    cfg=Config(dict()), logger=MMLogger.get_instance('failing'))
# Rank 0 cannot write: its out_dir lies under a file.
hook = NeuronAllocationHook(out_dir=os.path.join(out, 'a_file', 'sub'))
try:
    hook.allocate(runner)
    message = 'no error'
except RuntimeError as e:
    message = str(e)
with open(os.path.join(out, f'rank{rank}.txt'), 'w') as f:
    f.write(message)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_a_failure_on_rank_0_ends_every_rank_with_its_reason(tmp_path):
    # Two gloo ranks started by the test itself: no launcher that would
    # stop the others when one fails.
    (tmp_path / 'a_file').write_text('')
    script = tmp_path / 'failing_rank.py'
    script.write_text(FAILING_RANK_SCRIPT)
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path)], cwd=REPO,
            env=dict(os.environ, RANK=str(rank), WORLD_SIZE='2',
                     MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                     OMP_NUM_THREADS='1'),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for rank in (0, 1)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)  # a hang fails here
        assert proc.returncode == 0, err.decode()[-3000:]
    messages = [(tmp_path / f'rank{r}.txt').read_text() for r in (0, 1)]
    assert messages[0] == messages[1]
    assert messages[0].startswith('neuron allocation failed on rank 0: '
                                  'NotADirectoryError')


def test_hook_with_a_model_built_in_code(tmp_path):
    from toy_models import toy_runner
    runner = toy_runner(
        tmp_path,
        max_iters=2,
        structure='seed',
        custom_hooks=[dict(type='NeuronAllocationHook', budget_ratio=0.5)])
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, NeuronAllocationHook)][0]
    # No config to rewrite: the spec and the plot only.
    assert sorted(hook.paths) == ['plot', 'spec']
    spec = ChannelSpec.load(hook.paths['spec'])
    assert spec.meta['budget_ratio'] == 0.5
    assert spec == hook.result.spec
    # The spec builds the allocated net: its SA blocks have the kept
    # channels, and it runs.
    allocated = CifarScaleNet(38, structure=spec)
    blocks = [m for m in allocated.modules() if isinstance(m, SABlock)]
    assert [b.out_channels for b in blocks] == [list(c)
                                                for c in spec.channels]
    (out, ) = allocated(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 256, 8, 8) and torch.isfinite(out).all()


class SpreadGammas(Hook):
    """Set every SA gamma of the seed to a well-separated random |gamma|
    before the allocation hook runs (a seed whose ranking has settled)."""
    priority = 'VERY_HIGH'

    def after_train(self, runner):
        g = torch.Generator().manual_seed(0)
        for m in runner.model.modules():
            if isinstance(m, SABlock):
                for norm in m.norms.values():
                    norm.weight.data.copy_(
                        torch.rand(norm.weight.shape, generator=g) * 0.8 +
                        0.2)


def test_hook_diagnostics_warn_on_a_tied_ranking(trained_seed):
    """One epoch on 128 images leaves the gammas near 1: the hook says the
    ranking cannot have decided the allocation, and names the remedy."""
    runner, hook, work_dir = trained_seed
    d = hook.diagnostics
    assert d.tied_share > 0.5 and d.near_zero == 0
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'neuron allocation: ' + d.summary() in log
    assert 'WARNING - neuron allocation: the |gamma| ranking cannot have ' \
        'decided this allocation' in log
    assert 'train the seed longer' in log


def test_hook_diagnostics_quiet_on_a_settled_ranking(tmp_path):
    cfg = small_seed_cfg(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(SpreadGammas())
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, NeuronAllocationHook)][0]
    assert hook.diagnostics.warning() is None
    assert hook.diagnostics.tied_share < 0.5
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert 'cannot have decided' not in log


def test_offline_tool_prints_the_diagnostics_both_ways(
        trained_seed, tmp_path):
    _, _, work_dir = trained_seed
    tied = run_main('tools/allocate.py', SEED_CONFIG,
                    str(work_dir / 'epoch_1.pth'), '--out',
                    str(tmp_path / 'tied'))
    assert tied.returncode == 0, tied.stderr[-3000:]
    assert 'channels moved from the even allocation' in tied.stdout
    assert 'warning: the |gamma| ranking cannot have decided' in tied.stderr
    state = torch.load(work_dir / 'epoch_1.pth', weights_only=False)
    g = torch.Generator().manual_seed(0)
    for key, value in state['state_dict'].items():
        if '.conv2.norms.' in key and key.endswith('.weight'):
            value.copy_(torch.rand(value.shape, generator=g) * 0.8 + 0.2)
    torch.save(state, tmp_path / 'settled.pth')
    settled = run_main('tools/allocate.py', SEED_CONFIG,
                       str(tmp_path / 'settled.pth'), '--out',
                       str(tmp_path / 'settled'))
    assert settled.returncode == 0, settled.stderr[-3000:]
    assert 'channels moved from the even allocation' in settled.stdout
    assert 'cannot have decided' not in settled.stderr


def test_offline_tool_refuses_an_out_that_is_a_file(trained_seed, tmp_path):
    _, _, work_dir = trained_seed
    taken = tmp_path / 'taken'
    taken.write_text('mine\n')
    out = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'), '--out', str(taken))
    assert_one_line_error(out, f'--out {taken} is a file', 'give a directory')
    assert taken.read_text() == 'mine\n'
    below = run_main('tools/allocate.py', SEED_CONFIG,
                     str(work_dir / 'epoch_1.pth'), '--out',
                     str(taken / 'sub'))
    assert_one_line_error(below, f'{taken}/sub is below {taken}',
                          'give a directory')


def test_offline_tool_channel_divisor(trained_seed, tmp_path):
    _, _, work_dir = trained_seed
    out = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'), '--out', str(tmp_path),
                   '--channel-divisor', '4')
    assert out.returncode == 0, out.stderr[-3000:]
    spec = ChannelSpec.load(str(tmp_path / 'allocated_spec.json'))
    assert spec.meta['channel_divisor'] == 4
    assert all(c % 4 == 0 for row in spec.channels for c in row)
    bad = run_main('tools/allocate.py', SEED_CONFIG,
                   str(work_dir / 'epoch_1.pth'), '--out', str(tmp_path),
                   '--channel-divisor', '0')
    assert_one_line_error(bad, 'channel_divisor', 'positive integer',
                          'got 0')


RESNET_CONFIG = osp.join(REPO, 'configs', 'demo', 'resnet38_1xb64_digits.py')


@pytest.mark.parametrize('hook', [
    dict(type='NeuronAllocationHook'),
    dict(type='SeedReadinessHook'),
    dict(type='GammaSparsityHook', lambda_l1=1e-4),
])
def test_a_seed_hook_without_a_scalenet_ends_before_the_first_epoch(
        hook, tmp_path):
    cfg = small_seed_cfg(tmp_path)
    resnet = Config.fromfile(RESNET_CONFIG)
    cfg.model = resnet.model
    cfg.custom_hooks = [hook]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ConfigError) as e:
        runner.train()
    message = str(e.value)
    assert message.startswith(hook['type'])
    assert 'no ScaleNet backbone in the model (ImageClassifier)' in message
    assert '\n' not in message
    assert (runner.epoch, runner.iter) == (0, 0)
    assert not list(tmp_path.glob('*.pth'))


def test_the_allocation_hook_checks_its_out_dir_before_training(tmp_path):
    (tmp_path / 'a_file').write_text('')
    runner = Runner.from_cfg(
        small_seed_cfg(tmp_path, out_dir=str(tmp_path / 'a_file' / 'sub')))
    with pytest.raises(ConfigError, match='NotADirectoryError: .*a_file'):
        runner.train()
    assert runner.iter == 0


@pytest.mark.slow
def test_train_tool_prints_a_hooks_refusal_in_one_line(tmp_path):
    config = tmp_path / 'resnet_with_allocation.py'
    config.write_text(f"_base_ = '{RESNET_CONFIG}'\n"
                      "custom_hooks = [dict(type='NeuronAllocationHook')]\n")
    out = run_main('tools/train.py', str(config), '--work-dir',
                   str(tmp_path / 'work'))
    assert out.returncode == 1
    assert 'Traceback' not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('error: NeuronAllocationHook: the check before '
                           'training failed on rank 0: AllocationError: no '
                           'ScaleNet backbone'), out.stderr[-2000:]
