# Copyright (c) mmscalenet contributors. All rights reserved.
from .cli import (add_cfg_options, add_launcher_args, exit_on_bad_input,
                  load_config, read_config)
from .run_config import (SUPPORTED_SCOPES, check_checkpoint_files,
                         check_data_roots, config_scope, drop_validation,
                         finish_distributed, init_cpu_distributed,
                         prepare_test_cfg, prepare_train_cfg, shorten_schedule,
                         unformatted)

__all__ = [
    'add_cfg_options', 'add_launcher_args', 'exit_on_bad_input',
    'load_config', 'read_config', 'SUPPORTED_SCOPES',
    'check_checkpoint_files', 'check_data_roots',
    'config_scope', 'finish_distributed', 'init_cpu_distributed',
    'prepare_train_cfg', 'prepare_test_cfg', 'drop_validation',
    'shorten_schedule', 'unformatted'
]
