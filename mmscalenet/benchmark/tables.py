# Copyright (c) mmscalenet contributors. All rights reserved.
"""The benchmark's tables, its targets, and its Markdown record.

Every row prints its ratio to the first (the baseline, ResNet) row; a
judged row also the project's target for its table (:data:`TARGETS`) and
whether it meets it.
"""
import contextlib
import io
import os
import os.path as osp
import time
from typing import Callable, Collection, Dict, Iterator, List, Optional

import torch

#: The most ScaleNet may take, as a multiple of ResNet, per table.
TARGETS = {
    'eval': 0.90,
    'eval_fused': 0.90,
    'train': 1.00,
    'memory': 1.10,
    'detection': 0.70,
    'latency': 1.00,
}


def print_rows(title: str,
               values: Dict[str, float],
               unit: str,
               scale: float,
               target: Optional[str] = None,
               judged: Optional[Collection[str]] = None) -> None:
    """One table: values, ratio to the first row (nan if that is 0) and,
    for the ``judged`` rows (default: all but the first), the
    ``target``."""
    names = list(values)
    base = values[names[0]]
    judged = names[1:] if judged is None else judged
    print(f'\n{title}')
    for name in names:
        ratio = values[name] / base if base else float('nan')
        line = f'  {name:<40}{values[name] * scale:>10.1f} {unit:<4}' \
               f'{ratio:>8.3f}x'
        if target is not None and name != names[0] and name in judged:
            verdict = 'meets' if ratio <= TARGETS[target] else 'misses'
            line += f'   target <= {TARGETS[target]:.2f}x: {verdict}'
        print(line)


def print_stage_rows(title: str, values: Dict[str, List[float]],
                     unit: str) -> None:
    """Values per stage, each with its ratio to the first model's."""
    names = list(values)
    base = values[names[0]]
    print(f'\n{title}')
    print(f'  {"":<40}' + ''.join(
        f'{s:>16}' for s in ('stem', 'layer1', 'layer2', 'layer3', 'layer4')))
    for name in names:
        print(f'  {name:<40}' + ''.join(
            f'{v:>8.1f} {v / b:>5.2f}x ' for v, b in zip(values[name], base)) +
              f' {unit}')


def print_best_engines(title: str, times: Dict[str, float],
                       families: Dict[str, str]) -> None:
    """The fastest engine of each family (the baseline's first), with the
    ratio of the ScaleNet's best to the ResNet's best and the latency
    target. ``families`` names each judged row's family."""
    best: Dict[str, tuple] = {}
    for name, seconds in times.items():
        family = families.get(name)
        if family is not None and (family not in best
                                   or seconds < best[family][1]):
            best[family] = (name, seconds)
    print_rows(title, {name: t for name, t in best.values()}, 'ms', 1e3,
               'latency')


def print_step_profiles(steps: Dict[str, Callable[[], None]],
                        what: str) -> None:
    """torch.profiler's table of one call of each step."""
    from torch.profiler import profile
    for name, step in steps.items():
        step()
        with profile() as prof:
            step()
        print(f'\nProfile, {name}, {what}:')
        print(prof.key_averages().table(
            sort_by='self_cpu_time_total', row_limit=12))


def print_op_type_tables(tables: Dict[str, List[tuple]], what: str) -> None:
    """:func:`~mmscalenet.benchmark.engines.openvino_op_table`'s tables:
    every executed node type of each model, with its time, its share and
    its node count."""
    for name, rows in tables.items():
        total = sum(r[1] for r in rows)
        print(f'\nExecuted nodes by type, {name}, fused eval forward, '
              f'{what} (per inference: {total:.1f} ms in '
              f'{sum(r[2] for r in rows)} nodes)')
        for node_type, ms, nodes in rows:
            print(f'  {node_type:<30}{ms:>9.2f} ms {nodes:>6} nodes '
                  f'{ms / total:>6.1%}')


def print_kernel_tables(tables: Dict[str, List[tuple]], what: str,
                        device: torch.device) -> None:
    """:func:`~mmscalenet.benchmark.engines.kernel_table`'s tables, one list
    per model, each with its total (its rows add up to it)."""
    unit = 'kernels by GPU time' if device.type == 'cuda' else \
        'operators by self CPU time'
    for name, rows in tables.items():
        total = sum(r[1] for r in rows)
        print(f'\nTop {unit}, {name}, {what} (one call: {total:.2f} ms)')
        for kernel, ms, calls in rows:
            print(f'  {kernel[:70]:<72}{ms:>9.3f} ms {calls:>6} calls '
                  f'{ms / total:>6.1%}')


def allocator() -> str:
    """The preloaded memory allocator, if any: on CPUs it changes the
    timings (the system allocator returns large blocks to the OS, and the
    page faults of touching them again cost a VM dearly)."""
    preload = os.environ.get('LD_PRELOAD')
    if not preload:
        return 'system malloc'
    conf = os.environ.get('MALLOC_CONF')
    names = ', '.join(osp.basename(p) for p in preload.split())
    return f'{names} ({conf})' if conf else names


class _Tee(io.TextIOBase):
    """Write to a stream and keep a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def recorded_to(markdown: Optional[str], command: str) -> Iterator[None]:
    """Print as usual; with a ``markdown`` file, then append to it a
    section: the date and the output's first line (the device line) as its
    title, the command, and the whole output. A run that raises is recorded
    too, with the rows it printed and the exception's first line last.

    Example:
        >>> with recorded_to('benchmarks.md', 'python tools/benchmark.py'):
        ...     print('device: CPU ...')  # doctest: +SKIP
    """
    if not markdown:
        yield
        return
    import sys
    tee = _Tee(sys.stdout)
    stopped = ''
    try:
        with contextlib.redirect_stdout(tee):
            yield
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else ''
        stopped = f'\n\nstopped by {type(error).__name__}: {reason}'
        raise
    finally:
        output = tee.copy.getvalue().strip() + stopped
        if output:
            _append_section(markdown, command, output)


def _append_section(markdown: str, command: str, output: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(markdown)), exist_ok=True)
    with open(markdown, 'a') as f:
        f.write(f'## {time.strftime("%Y-%m-%d")}, '
                f'{output.splitlines()[0]}\n\n'
                f'`{command}`\n\n```\n{output}\n```\n\n')
