# mmdet's runtime defaults, with a nan or infinite loss ending the run at
# that iteration in one line (FiniteLossHook; mmdet's CheckInvalidLossHook
# checks every 50 iterations and ends in an assertion).
_base_ = 'mmdet::_base_/default_runtime.py'

default_hooks = dict(finite_loss=dict(type='FiniteLossHook'))
