# Copyright (c) mmscalenet contributors. All rights reserved.
"""Registries of mmscalenet.

``MODELS`` and ``HOOKS`` are children of mmengine's root registries under the
scope ``mmscalenet``, so ``type='mmscalenet.ScaleNet'`` resolves from any
scope. Every module is also registered in the root registry itself, which is
the parent of mmdet's and mmpretrain's registries: a plain
``type='ScaleNet'`` then resolves from a config whose ``default_scope`` is
``'mmdet'`` or ``'mmpretrain'`` once ``custom_imports`` imported this package.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmscalenet',
    locations=['mmscalenet.models'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='mmscalenet',
    locations=['mmscalenet.engine'])


def _register_in_scope_and_root(registry: Registry):
    """Decorator registering a class in ``registry`` and in its root."""

    def decorator(cls):
        registry.register_module(module=cls)
        registry.parent.register_module(module=cls)
        return cls

    return decorator


register_model = _register_in_scope_and_root(MODELS)
register_hook = _register_in_scope_and_root(HOOKS)
