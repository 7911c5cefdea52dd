# Copyright (c) mmscalenet contributors. All rights reserved.
from .run_config import (SUPPORTED_SCOPES, config_scope, init_cpu_distributed,
                         prepare_test_cfg, prepare_train_cfg)

__all__ = [
    'SUPPORTED_SCOPES', 'config_scope', 'init_cpu_distributed',
    'prepare_train_cfg', 'prepare_test_cfg'
]
