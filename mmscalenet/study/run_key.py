# Copyright (c) mmscalenet contributors. All rights reserved.
"""A run's key in the results file: ``GROUP/KIND``.

The group is ``seed<N>`` for the study's runs (``seed2/even``) or
``select`` / ``select-ranked`` for the L1 strength's selection runs, whose
second part names the strength (``select/lambda=0.02``).
"""
from typing import NamedTuple

#: The groups of the selection runs.
SELECTION_GROUPS = ('select', 'select-ranked')


class RunKey(NamedTuple):
    """A parsed run key.

    Example:
        >>> key = RunKey.parse('seed2/even-matched')
        >>> key.seed, key.kind, str(key)
        (2, 'even-matched', 'seed2/even-matched')
        >>> RunKey.parse('select/lambda=0.02').lambda_l1
        0.02
    """
    group: str
    kind: str

    @classmethod
    def parse(cls, key: str) -> 'RunKey':
        group, kind = key.split('/')
        return cls(group, kind)

    @classmethod
    def of(cls, seed: int, kind: str) -> 'RunKey':
        return cls(f'seed{seed}', kind)

    def __str__(self) -> str:
        return f'{self.group}/{self.kind}'

    @property
    def is_selection(self) -> bool:
        return self.group in SELECTION_GROUPS

    @property
    def seed(self) -> int:
        """The seed of a study run (``seed2/...``: 2)."""
        return int(self.group[len('seed'):])

    @property
    def lambda_l1(self) -> float:
        """The L1 strength a selection run names."""
        return float(self.kind.split('=')[1])

    def sibling(self, kind: str) -> str:
        """The key of run ``kind`` of the same group."""
        return str(RunKey(self.group, kind))
