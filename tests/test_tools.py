# Copyright (c) mmscalenet contributors. All rights reserved.
"""tools/train.py, tools/test.py and tools/get_flops.py as a user runs them."""
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
from helpers import (assert_one_line_error, run_command, run_main,
                     run_main_tool, run_python, run_tool)
from mmengine.config import Config

from mmscalenet.apis import prepare_test_cfg, prepare_train_cfg

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.parametrize('config, gmacs, mparams', [
    ('scalenet50.py', '3.818', '31.48'),
    pytest.param('scalenet50-light.py', '2.861', '23.63',
                 marks=pytest.mark.slow),
])
def test_get_flops_reports_the_reference_numbers(config, gmacs, mparams):
    text = run_main_tool('tools/get_flops.py',
                         osp.join('configs', '_base_', 'models', config))
    assert f'MACs (conv + fc): {gmacs} G' in text
    assert f'Params: {mparams} M' in text
    pool = float(re.search(r'pool\s+([\d.]+)', text).group(1))
    upsample = float(re.search(r'upsample\s+([\d.]+)', text).group(1))
    assert pool > 0 and upsample > 0, 'pooling/upsampling not counted'


CLS_CONFIG = """
_base_ = ['{repo}/configs/_base_/models/scalenet50.py']
model = dict(
    backbone=dict(_delete_=True, type='CifarScaleNet', depth=38),
    head=dict(num_classes=3, in_channels=256, topk=(1, )))
data_preprocessor = dict(
    num_classes=3, mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7])
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root='{data}',
                 pipeline=pipeline),
    sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root='{data}',
                 pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(by_epoch=False, max_iters=4, val_interval=4)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1),
    visualization=dict(type='VisualizationHook', enable=False))
visualizer = dict(type='UniversalVisualizer')
"""


def write_image_folder(root, classes=3, per_class=4):
    import cv2
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f'class{c}').mkdir(parents=True)
        for i in range(per_class):
            img = (rng.random((32, 32, 3)) * 80 + c * 80).astype(np.uint8)
            cv2.imwrite(str(root / f'class{c}' / f'{i}.png'), img)


@pytest.mark.slow
def test_train_resume_and_test_an_mmpretrain_config(tmp_path):
    data = tmp_path / 'data'
    write_image_folder(data)
    config = tmp_path / 'cls_config.py'
    config.write_text(CLS_CONFIG.format(repo=REPO, data=data))
    work = tmp_path / 'work'
    text = run_main_tool('tools/train.py', str(config), '--work-dir',
                         str(work), '--cfg-options', 'train_cfg.max_iters=2')
    assert (work / 'iter_2.pth').is_file()
    assert 'accuracy/top1' in text
    # --resume picks up iter_2 and trains on to iter 4.
    text = run_main_tool('tools/train.py', str(config), '--work-dir',
                         str(work), '--resume')
    assert 'resumed epoch: 0, iter: 2' in text
    assert (work / 'iter_4.pth').is_file()
    out = tmp_path / 'preds.pkl'
    text = run_main_tool('tools/test.py', str(config),
                         str(work / 'iter_4.pth'), '--work-dir', str(work),
                         '--out', str(out), '--show-dir',
                         str(tmp_path / 'vis'))
    assert re.search(r'accuracy/top1: \d+\.\d+', text)
    assert out.is_file()
    # --show-dir: mmpretrain's visualization hook drew the images; it names
    # each after its file (classK/i.png -> i.png_<step>.png), so the 12
    # images of 3 classes give the 4 names 0..3.
    drawn = sorted(p.name for p in (tmp_path / 'vis').glob('*.png'))
    assert drawn == [f'{i}.png_0.png' for i in range(4)]


def test_train_flags_follow_mm_conventions():
    cfg = Config(
        dict(
            default_scope='mmdet',
            optim_wrapper=dict(
                type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02)),
            auto_scale_lr=dict(enable=False, base_batch_size=16),
            val_cfg=dict(type='ValLoop')))
    prepare_train_cfg(cfg, amp=True, auto_scale_lr=True, resume='auto')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.resume is True and cfg.load_from is None
    prepare_train_cfg(cfg, no_validate=True)
    assert cfg.val_cfg is None
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        prepare_train_cfg(cfg, resume='missing.pth')
    with pytest.raises(ValueError, match="got 'mmocr'"):
        prepare_train_cfg(Config(dict(default_scope='mmocr')))
    assert prepare_train_cfg(Config(dict(
        default_scope='mmseg'))).default_scope == 'mmseg'


@pytest.mark.parametrize('scope, dump', [('mmdet', 'DumpDetResults'),
                                         ('mmpretrain', 'DumpResults')])
def test_test_flags_pick_the_library_dump(tmp_path, scope, dump):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cfg = Config(
        dict(default_scope=scope, test_evaluator=dict(type='Accuracy')))
    prepare_test_cfg(cfg, str(ckpt), out=str(tmp_path / 'r.pkl'))
    assert cfg.load_from == str(ckpt)
    assert [e['type'] for e in cfg.test_evaluator] == ['Accuracy', dump]
    with pytest.raises(ValueError, match='r.json'):
        prepare_test_cfg(cfg, str(ckpt), out='r.json')


def test_show_dir_turns_on_each_librarys_visualization(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    det = Config(dict(default_scope='mmdet', default_hooks=dict(
        visualization=dict(type='DetVisualizationHook', draw=False))))
    prepare_test_cfg(det, str(ckpt), show_dir='vis')
    assert det.default_hooks.visualization == dict(
        type='DetVisualizationHook', draw=True, test_out_dir='vis')
    cls = Config(dict(default_scope='mmpretrain', default_hooks=dict(
        visualization=dict(type='VisualizationHook', enable=False))))
    prepare_test_cfg(cls, str(ckpt), show_dir='vis', interval=3)
    assert cls.default_hooks.visualization == dict(
        type='VisualizationHook', enable=True, show=False, wait_time=2,
        out_dir='vis', interval=3)
    with pytest.raises(ValueError, match='need a VisualizationHook'):
        prepare_test_cfg(Config(dict(default_scope='mmdet')), str(ckpt),
                         show=True)
    # mmseg's tools/test.py: the visualizer's save_dir; --interval is ours
    # (mmseg's hook draws every 50th test iteration unless told).
    seg = Config(dict(default_scope='mmseg', visualizer=dict(
        type='SegLocalVisualizer'), default_hooks=dict(
            visualization=dict(type='SegVisualizationHook'))))
    prepare_test_cfg(seg, str(ckpt), show_dir='vis')
    assert seg.default_hooks.visualization == dict(
        type='SegVisualizationHook', draw=True)
    assert seg.visualizer.save_dir == 'vis'
    prepare_test_cfg(seg, str(ckpt), show=True, interval=1)
    assert seg.default_hooks.visualization == dict(
        type='SegVisualizationHook', draw=True, show=True, wait_time=2,
        interval=1)
    with pytest.raises(ValueError, match='--interval must be at least 1, '
                       'got 0'):
        prepare_test_cfg(seg, str(ckpt), show=True, interval=0)


def test_out_is_a_folder_of_label_maps_for_mmseg(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    seg = Config(dict(default_scope='mmseg', test_evaluator=dict(
        type='IoUMetric', iou_metrics=['mIoU'])))
    prepare_test_cfg(seg, str(ckpt), out='preds')
    assert seg.test_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'],
                                      output_dir='preds', keep_results=True)


@pytest.mark.slow
def test_tools_refuse_bad_input_in_one_line(tmp_path):
    config = osp.join('configs', 'demo', 'resnet38_1xb64_digits.py')
    # Each refusal: one line, the value at fault and what to do instead.
    for args, named in [
        (('tools/test.py', config, 'missing.pth'),
         ['checkpoint not found', 'missing.pth']),
        (('tools/test.py', config, __file__, '--out', 'r.json'),
         ["--out", "'r.json'", '.pkl or .pickle']),
        (('tools/train.py', config, '--resume', 'missing.pth'),
         ['--resume', 'missing.pth']),
        (('tools/train.py', 'configs/nope.py'),
         ['config not found', 'configs/nope.py']),
        (('tools/train.py', 'configs/faster_rcnn/'
          'faster-rcnn_scalenet50_fpn_8xb2-10e_coco-600x1000.py',
          '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/'),
         [f"'{tmp_path}/annotations/instances_train2017.json' does not "
          'exist', 'docs/detection.md', 'tools/make_toy_coco.py',
          '--cfg-options train_dataloader.dataset.data_root=DIR']),
        (('tools/test.py', 'configs/scalenet/scalenet50_8xb32_in1k.py',
          __file__, '--cfg-options',
          'test_dataloader.dataset.data_root=nowhere'),
         ["data_root 'nowhere' does not exist", 'docs/classification.md',
          '--cfg-options test_dataloader.dataset.data_root=DIR']),
        (('tools/test.py', 'configs/pspnet/pspnet_scalenet50-d8_1xb4-200iter_'
          'toy-shapes-96x96.py', __file__, '--cfg-options',
          'test_dataloader.dataset.data_root=/nonexistent/toy'),
         ["data_root '/nonexistent/toy' does not exist",
          'docs/segmentation.md', 'tools/make_toy_seg.py',
          '--cfg-options test_dataloader.dataset.data_root=DIR']),
    ]:
        out = run_main(*args)
        assert out.returncode != 0
        assert 'Traceback' not in out.stderr, out.stderr[-2000:]
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith('error: '), out.stderr[-2000:]
        for part in named:
            assert part in line, (part, line)


@pytest.mark.slow
def test_benchmark_prints_every_row_and_the_memory_target_holds(tmp_path):
    # Tiny settings: the timings mean nothing here (and are never
    # asserted); the saved-activation bytes are exact and device
    # independent, so the memory target is checked at 224x224.
    markdown = tmp_path / 'docs' / 'benchmarks.md'
    # (In process: tools/dev/gpu_measurements.sh runs the tool as a user
    # would, below.)
    text = run_main_tool('tools/benchmark.py', '--depths', '50', '--batch',
                         '1', '--train-batch', '2', '--det-size', '224',
                         '224', '--rounds', '1', '--warmup', '0',
                         '--profile', '--append-to', str(markdown))
    section = markdown.read_text()
    assert section.startswith('## ') and 'device: CPU' in section
    preload = os.environ.get('LD_PRELOAD', '').split()
    allocator = osp.basename(preload[0]) if preload else 'system malloc'
    assert f'allocator: {allocator}' in section
    assert '`python tools/benchmark.py --depths 50 --batch 1' in section
    assert 'Activations saved for backward' in section
    for title in ('Eval forward, batch 1', 'conv-BN fused',
                  'Time per stage', 'MACs per stage',
                  'Backbone alone', 'Training step',
                  'Activations saved for backward', 'Faster R-CNN FPN',
                  'Best against best, batch 1',
                  'Minor page faults in one training step',
                  'Profile, ScaleNet-50, training step, batch 2'):
        assert title in text, title
    memory = {}
    for name, ratio in re.findall(
            r'^  (ScaleNet-50.*?)\s+[\d.]+ MiB\s+([\d.]+)x', text, re.M):
        memory[name.strip()] = float(ratio)
    assert memory['ScaleNet-50'] <= 1.10
    assert memory['ScaleNet-50'] < memory["ScaleNet-50 (authors' sequence)"]


def test_check_equivalence_refuses_a_missing_device():
    if torch.cuda.is_available():
        pytest.skip('this machine has the CUDA device')
    bad = run_main('tools/dev/check_equivalence.py', '--device', 'cuda')
    assert_one_line_error(bad, '--device cuda', 'no CUDA device')


@pytest.mark.slow
def test_gpu_script_dry_run_runs_one_part_of_each_kind(tmp_path):
    """tools/dev/gpu_measurements.sh --dry-run: on the CPU at tiny sizes,
    the path check and the first benchmark part of each kind run, the
    others are named (it checks the script; the benchmark's rows are
    checked above)."""
    out = run_command(['bash', 'tools/dev/gpu_measurements.sh',
                       str(tmp_path), '--dry-run'],
                      env=dict(PYTHON=sys.executable), timeout=900)
    log = (tmp_path / 'gpu.log').read_text()
    assert out.returncode == 0, log[-3000:]
    ran = re.findall(r'^== (.*): exit code (\d+)', log, re.M)
    assert [title for title, _ in ran] == [
        'equal outputs, every rewrite', 'SA rewrite choice: fp32',
        'ablation: defaults ', 'per-kernel tables',
        'best engines: fp32, channels-last'
    ]
    failed = [title for title, code in ran if code != '0']
    assert not failed, (failed, log[-3000:])
    # tools/dev/check_equivalence.py: every rewrite, deploy and padded
    # build against the authors' sequence, each within its tolerance.
    checks = re.search(r'^== equal outputs.*?\n(.*?)\n== ', log,
                       re.M | re.S).group(1).splitlines()
    assert checks[0] == 'ScaleNet-50 on cpu, batch 1, 64x64, fp32 (TF32 off):'
    assert len(checks) == 11 and all(
        line.endswith(': ok') for line in checks[1:]), checks
    assert len(re.findall(r'^== .*: not run in the dry run$', log,
                          re.M)) == 9
    markdown = (tmp_path / 'benchmarks-gpu.md').read_text()
    for row in ('the row for MEASURED_CHOICES in',
                'Top operators by self CPU time, ScaleNet-50',
                'Backbone forward + backward, 1 images',
                '[50] Best against best, batch 1'):
        assert row in markdown, row
    # The best rows (the last section) run the rewrites the choice saved.
    chosen = tmp_path / 'sa-rewrites-fp32.json'
    assert f'({chosen});' in markdown.rsplit('\n## ', 1)[-1]


@pytest.mark.slow
def test_machine_variation_tool(tmp_path):
    """One epoch per setting: the baseline repeats itself bit for bit; the
    tool names every setting and the spread."""
    # The demo's even net on a tenth of the digits (the tool trains it in
    # five processes; what it reports does not depend on the data's size).
    config = tmp_path / 'small_digits.py'
    config.write_text(
        f"_base_ = '{REPO}/configs/demo/scalenet38-even_1xb64_digits.py'\n"
        "train_dataloader = dict(dataset=dict(indices=128))\n"
        "val_dataloader = dict(dataset=dict(indices=64))\n")
    out = run_main_tool('tools/dev/machine_variation.py', '--epochs', '1',
                        '--config', str(config))
    lines = out.strip().splitlines()
    rows = [line for line in lines if 'top-1' in line and 'weights' in line]
    assert len(rows) == 5
    assert rows[0].split()[-3] == rows[1].split()[-3]  # the same digest
    assert rows[1].endswith('same weights')
    assert lines[-1].startswith('top-1 spread over the settings: ')
    # The tool's one run in a new interpreter, as a user starts it.
    bad = run_python('tools/dev/machine_variation.py', '--epochs', '0')
    assert_one_line_error(bad, '--epochs', 'at least 1', 'got 0')


@pytest.mark.slow
def test_the_from_scratch_tool_compares_the_four_backbones():
    """tools/dev/from_scratch.py, tiny: the four backbones' activations at
    init and their first losses; the authors' init is the one that
    explodes at init (docs/model.md quotes its full run)."""
    # (A new interpreter: the tool builds mmdet Runners, whose visualizer
    # and default scope would stay behind in this process.)
    text = run_tool('tools/dev/from_scratch.py', '--iters', '2', '--scale',
                    '64')
    # The activation rows: a name in a 58-character column, four numbers.
    maxima = {
        name.strip(): [float(v) for v in values.split()]
        for name, values in re.findall(
            r'^  ((?:ResNet|ScaleNet)-50.{48})((?:\s+[\d.e+]+){4})$', text,
            re.M)
    }
    assert len(maxima) == 4, text[-2000:]
    authors = maxima["ScaleNet-50, the authors' init (zero_init_residual="
                     "False)"]
    default = maxima['ScaleNet-50 (default)']
    assert authors[-1] > 100 * default[-1]
    assert len(re.findall(r'all finite: (True|False)', text)) == 4
    bad = run_main('tools/dev/from_scratch.py', '--iters', '0')
    assert bad.returncode != 0 and 'Traceback' not in bad.stderr
    assert bad.stderr.startswith('error: --iters must be at least 1')
    assert 'got 0 and 320' in bad.stderr
