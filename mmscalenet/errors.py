# Copyright (c) mmscalenet contributors. All rights reserved.
"""The error of a run that cannot finish as configured, found before any
work is done."""


class ConfigError(ValueError):
    """A setting that makes the run impossible, found before training: a
    hook without the ScaleNet it needs, an output folder it cannot write, a
    ResNet checkpoint as a ScaleNet's weights. The tools print it in one
    line (``error: <message>``), with no traceback.

    Example:
        >>> raise ConfigError('no ScaleNet backbone in the model')
        Traceback (most recent call last):
        ...
        mmscalenet.errors.ConfigError: no ScaleNet backbone in the model
    """


class NonFiniteLossError(RuntimeError):
    """A training loss that is ``nan`` or infinite
    (:class:`~mmscalenet.engine.FiniteLossHook`); the tools print it in
    one line (``error: <message>``), with no traceback.

    Example:
        >>> raise NonFiniteLossError('the loss is nan at iteration 2')
        Traceback (most recent call last):
        ...
        mmscalenet.errors.NonFiniteLossError: the loss is nan at iteration 2
    """
