# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmengine's --resume under torch >= 2.6 (weights_only loading)."""
import pickle

import pytest
import torch
from toy_models import toy_runner


def make_runner(work_dir, max_iters, resume=False, load_from=None):
    return toy_runner(
        work_dir,
        max_iters,
        param_scheduler=dict(
            type='MultiStepLR', milestones=[3], by_epoch=False, end=100),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        resume=resume,
        load_from=load_from)


def test_checkpoint_needs_the_allow_list(tmp_path):
    runner = make_runner(tmp_path, max_iters=2)
    runner.train()
    ckpt = tmp_path / 'iter_2.pth'
    # The checkpoint holds non-tensor objects that plain weights_only
    # loading refuses ...
    from mmscalenet import allow_mmengine_checkpoints
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(ckpt, weights_only=True)
    finally:
        allow_mmengine_checkpoints()
    # ... and loads with mmscalenet's allow-list in place.
    state = torch.load(ckpt, weights_only=True)
    assert state['meta']['iter'] == 2
    assert 'train/loss' in state['message_hub']['log_scalars']


def test_resume_continues_training(tmp_path):
    first = make_runner(tmp_path, max_iters=2)
    first.train()
    trained = {k: v.clone() for k, v in first.model.state_dict().items()}
    ckpt = tmp_path / 'iter_2.pth'
    assert ckpt.is_file()

    second = make_runner(tmp_path, max_iters=4, resume=True,
                         load_from=str(ckpt))
    second.train()
    assert second.iter == 4
    assert (tmp_path / 'iter_4.pth').is_file()
    # It started from the saved weights, momentum and schedule.
    resumed = torch.load(tmp_path / 'iter_4.pth', weights_only=True)
    assert resumed['meta']['iter'] == 4
    assert resumed['optimizer']['state'], 'momentum buffers not restored'
    assert resumed['param_schedulers'][0]['last_step'] == 4
    changed = [
        k for k, v in second.model.state_dict().items()
        if v.dtype.is_floating_point and not torch.equal(v, trained[k])
    ]
    assert changed, 'the resumed run did not train'


def test_other_pickled_objects_are_still_refused(tmp_path):

    class Payload:

        def __reduce__(self):
            return (print, ('executed',))

    path = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)

    from mmengine.logging import HistoryBuffer

    class Sneaky:
        # getattr is allowed only for HistoryBuffer's statistics methods.

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    torch.save({'f': Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)
