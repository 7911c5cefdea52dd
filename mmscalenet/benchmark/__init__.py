# Copyright (c) mmscalenet contributors. All rights reserved.
"""Speed and memory of ScaleNet against ResNet, measured side by side
(``tools/benchmark.py`` is its command line, as mmdet's
``tools/analysis_tools/benchmark.py`` is to ``mmdet/utils/benchmark.py``).

- :mod:`.steps`: the timed steps and interleaved, median timing;
- :mod:`.engines`: ONNX, torch.compile, TorchScript, CUDA graphs, kernel
  tables;
- :mod:`.stages`: per-stage time, MACs and parameters;
- :mod:`.models`: the timed models, tagged (:class:`TimedModel`);
- :mod:`.tables`: the tables, the targets and the Markdown record;
- :mod:`.settings`: the flags, grouped (:class:`BenchmarkSettings`);
- :mod:`.run`: the rows over a :class:`BenchmarkSettings`.

Never used as a timed test: the targets are ratios against ResNet measured
in the same run.
"""
from .models import TimedModel
from .run import Benchmark
from .settings import BenchmarkSettings
from .tables import TARGETS, recorded_to

__all__ = [
    'Benchmark', 'BenchmarkSettings', 'TARGETS', 'TimedModel', 'recorded_to'
]
