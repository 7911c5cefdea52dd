# Copyright (c) mmscalenet contributors. All rights reserved.
from .run_config import (SUPPORTED_SCOPES, config_scope, prepare_test_cfg,
                         prepare_train_cfg)

__all__ = [
    'SUPPORTED_SCOPES', 'config_scope', 'prepare_train_cfg',
    'prepare_test_cfg'
]
