# Copyright (c) mmscalenet contributors. All rights reserved.
"""mmengine's --resume under torch >= 2.6 (weights_only loading)."""
import pickle

import pytest
import torch
from mmengine.hooks import Hook
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


class RecordIterations(Hook):
    """Keeps the iterations a run trains, their losses, and the momentum
    buffers the optimizer holds before the run's first step."""

    def __init__(self):
        self.iters, self.losses, self.momentum_at_start = [], [], None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.momentum_at_start is None:
            state = runner.optim_wrapper.optimizer.state
            self.momentum_at_start = [
                state[p]['momentum_buffer'].clone()
                for p in runner.model.parameters() if p in state
            ]

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.iters.append(runner.iter)
        self.losses.append(float(outputs['loss']))


def run(work_dir, max_iters, **kwargs):
    """A toy run from the same RNG state (the model is built before the
    Runner seeds it), with a RecordIterations hook."""
    torch.manual_seed(1)
    runner = make_runner(work_dir, max_iters, **kwargs)
    record = RecordIterations()
    runner.register_hook(record)
    runner.train()
    return runner, record


def test_resume_continues_training(tmp_path):
    # The uninterrupted reference: 4 iterations in one go.
    reference, whole = run(tmp_path / 'whole', max_iters=4)
    # Interrupted after 2, then resumed to 4 from iter_2.pth.
    run(tmp_path / 'parts', max_iters=2)
    ckpt = tmp_path / 'parts' / 'iter_2.pth'
    saved = torch.load(ckpt, weights_only=True)
    resumed, rest = run(tmp_path / 'parts', max_iters=4, resume=True,
                        load_from=str(ckpt))
    # Only what a resume gives: it trains iterations 3 and 4 (runner.iter
    # is 2 and 3 in after_train_iter), not 4 from scratch ...
    assert whole.iters == [0, 1, 2, 3] and rest.iters == [2, 3]
    # ... starting with the saved momentum (a fresh run has none) ...
    saved_momentum = [v['momentum_buffer'] for v in
                      saved['optimizer']['state'].values()]
    assert len(rest.momentum_at_start) == len(saved_momentum) > 0
    for got, want in zip(rest.momentum_at_start, saved_momentum):
        assert torch.equal(got, want)
    # ... its losses continue the uninterrupted run's curve, and it ends
    # where that run ends (the schedule's milestone at 3 included).
    assert rest.losses == pytest.approx(whole.losses[2:], rel=1e-5)
    for (name, got), want in zip(resumed.model.state_dict().items(),
                                 reference.model.state_dict().values()):
        torch.testing.assert_close(got, want, msg=name)
    last = torch.load(tmp_path / 'parts' / 'iter_4.pth', weights_only=True)
    assert last['meta']['iter'] == 4
    assert last['param_schedulers'][0]['last_step'] == 4


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
