# Copyright (c) mmscalenet contributors. All rights reserved.
"""Channel specs: how many output channels each scale of each SA block has."""
import json
import numbers
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

from ..fileio import write_atomically
from .sa_geometry import block_budget, block_neuron_costs

STRUCTURE_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'structures')
#: The authors' learned allocations, shipped as package data.
STRUCTURE_NAMES = ('scalenet50', 'scalenet50_light', 'scalenet101',
                   'scalenet152')

Rows = Sequence[Sequence[int]]
StructureLike = Union[str, Rows, 'ChannelSpec']


def _is_count(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class ChannelSpec:
    """Output channels per scale for every SA block of a network.

    The row format is the authors': one row per SA block in network order,
    ``[C_1, ..., C_L, side]`` with the output channels of each scale (0 = the
    scale is absent) and the block's feature-map side at the reference input
    (224x224 for ImageNet nets, 32x32 for CIFAR nets).

    Args:
        rows (Sequence[Sequence[int]]): The rows. Validated on construction:
            every count a non-negative integer, every block with at least one
            channel, every row of the same length.
        meta (dict, optional): Free-form metadata (where the spec came from,
            budgets, ...). Saved with the spec. Defaults to None.
        num_scales (int, optional): The number of scales the rows must have
            (a network's number of pooling factors): a row of another length
            is refused with both lengths named, before its entries are read.
            Defaults to None (any, the same for every row).

    Example:
        >>> spec = ChannelSpec.load('scalenet50')
        >>> len(spec), spec.num_scales
        (16, 4)
        >>> spec.channels[0], spec.sides[0]
        ((62, 9, 5, 12), 56)
        >>> spec.out_channels[0]
        88
    """

    def __init__(self,
                 rows: Rows,
                 meta: Optional[dict] = None,
                 num_scales: Optional[int] = None):
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise TypeError(f'a channel spec is a list of rows, got {rows!r}')
        if len(rows) == 0:
            raise ValueError('a channel spec needs at least one block, got []')
        channels, sides = [], []
        for k, row in enumerate(rows):
            if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
                raise TypeError(f'block {k}: a row is [C_1, ..., C_L, side], '
                                f'got {row!r}')
            if num_scales is not None and len(row) != num_scales + 1:
                raise ValueError(
                    f'block {k}: row {list(row)} has {len(row)} entries, but '
                    f'with {num_scales} pooling factors a row is [C_1, ..., '
                    f'C_{num_scales}, side]: {num_scales + 1} entries')
            if len(row) < 2:
                raise ValueError(f'block {k}: a row needs at least one '
                                 f'channel count and the side, got '
                                 f'{list(row)}')
            if len(row) != len(rows[0]):
                raise ValueError(
                    f'block {k}: row {list(row)} has {len(row) - 1} scales '
                    f'but block 0 has {len(rows[0]) - 1}')
            *counts, side = row
            for i, c in enumerate(counts):
                if not _is_count(c) or c < 0:
                    raise ValueError(
                        f'block {k}, scale {i}: channel count must be a '
                        f'non-negative integer, got {c!r}')
            if not _is_count(side) or side < 1:
                raise ValueError(f'block {k}: side must be a positive '
                                 f'integer, got {side!r}')
            if sum(counts) == 0:
                raise ValueError(f'block {k}: a block needs at least one '
                                 f'channel, got {list(counts)}')
            channels.append(tuple(int(c) for c in counts))
            sides.append(int(side))
        self.channels: Tuple[Tuple[int, ...], ...] = tuple(channels)
        self.sides: Tuple[int, ...] = tuple(sides)
        self.meta = dict(meta or {})

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls,
             structure: StructureLike,
             num_scales: Optional[int] = None) -> 'ChannelSpec':
        """Build a spec from a structure name, a JSON path, rows or a spec.

        A JSON file holds either the rows (the authors' format) or a dict
        ``{"rows": [...], "meta": {...}}`` as written by :meth:`dump`.
        ``num_scales``: see the class.
        """
        if isinstance(structure, ChannelSpec):
            return structure
        if isinstance(structure, str):
            if structure in STRUCTURE_NAMES:
                path = osp.join(STRUCTURE_DIR, f'{structure}.json')
            elif structure.endswith('.json') or osp.sep in structure:
                path = structure
            else:
                raise ValueError(
                    f'unknown structure {structure!r}: use one of '
                    f'{STRUCTURE_NAMES}, a path to a JSON spec, or rows')
            if not osp.isfile(path):
                raise FileNotFoundError(f'structure file not found: {path}')
            with open(path) as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path} is not valid JSON: {e}') from e
            if isinstance(data, dict):
                if 'rows' not in data:
                    raise ValueError(f'{path}: a spec dict needs a "rows" '
                                     f'entry, got keys {sorted(data)}')
                return cls(data['rows'], data.get('meta'), num_scales)
            return cls(data, dict(source=path), num_scales)
        return cls(structure, num_scales=num_scales)

    @classmethod
    def seed(cls, stage_blocks: Sequence[int], widths: Sequence[int],
             sides: Sequence[int], num_scales: int) -> 'ChannelSpec':
        """The seed spec: ``C`` channels at each of ``L`` scales everywhere.

        ``C`` is the width of the ResNet 3x3 conv of each stage, so every
        block has ``N_k = L * C`` output neurons to select from.
        """
        if not _is_count(num_scales) or num_scales < 1:
            raise ValueError(f'num_scales must be a positive integer, got '
                             f'{num_scales!r}')
        rows = [[width] * num_scales + [side]
                for n, width, side in zip(stage_blocks, widths, sides)
                for _ in range(n)]
        return cls(rows, dict(kind='seed', num_scales=num_scales))

    @classmethod
    def even(cls,
             stage_blocks: Sequence[int],
             widths: Sequence[int],
             sides: Sequence[int],
             pool_factors: Sequence[int],
             budget_ratio: float = 1.0,
             downsample: str = 'max') -> 'ChannelSpec':
        """Even allocation: the same channel count at every scale.

        Per block, the largest ``C`` whose SA block stays within
        ``budget_ratio`` times the MACs of the ResNet 3x3 conv it replaces
        (the paper's comparison baseline, Figure 4).
        """
        rows = []
        for n, width, side in zip(stage_blocks, widths, sides):
            per_c = sum(
                block_neuron_costs(width, side, pool_factors, downsample))
            c = int(block_budget(width, side, budget_ratio) // per_c)
            if c < 1:
                raise ValueError(
                    f'budget_ratio {budget_ratio} leaves no channel for the '
                    f'even allocation at side {side}, width {width}')
            rows += [[c] * len(pool_factors) + [side]] * n
        return cls(rows, dict(kind='even', budget_ratio=budget_ratio))

    # ------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.channels)

    def __eq__(self, other) -> bool:
        return (isinstance(other, ChannelSpec)
                and self.channels == other.channels
                and self.sides == other.sides)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(blocks={len(self)}, '
                f'scales={self.num_scales})')

    @property
    def num_scales(self) -> int:
        """Number of scales ``L`` (absent scales included)."""
        return len(self.channels[0])

    @property
    def out_channels(self) -> List[int]:
        """Total output channels of each block's SA block."""
        return [sum(c) for c in self.channels]

    def padded(self, multiple: int) -> 'ChannelSpec':
        """Every scale's channels rounded up to a multiple of ``multiple``
        (absent scales stay absent): the GPU-shaped build of this spec.

        Example:
            >>> ChannelSpec([[62, 9, 5, 0, 56]]).padded(8).rows()
            [[64, 16, 8, 0, 56]]
        """
        if isinstance(multiple, bool) or not isinstance(
                multiple, int) or multiple < 1:
            raise ValueError(f'channel multiple must be a positive integer, '
                             f'got {multiple!r}')
        rows = [[-(-c // multiple) * multiple for c in channels] + [side]
                for channels, side in zip(self.channels, self.sides)]
        return ChannelSpec(rows, dict(self.meta, padded_to=multiple))

    def rows(self) -> List[List[int]]:
        """The spec in the authors' row format."""
        return [list(c) + [s] for c, s in zip(self.channels, self.sides)]

    def check_layout(self, stage_blocks: Sequence[int],
                     sides: Sequence[int], num_scales: int,
                     arch: str) -> None:
        """Raise a ``ValueError`` unless the spec fits a network layout.

        Args:
            stage_blocks (Sequence[int]): Blocks per stage.
            sides (Sequence[int]): Reference side of each stage.
            num_scales (int): Number of pooling factors of the network.
            arch (str): Name of the network, for the messages.
        """
        if len(self) != sum(stage_blocks):
            raise ValueError(
                f'{arch} has {sum(stage_blocks)} blocks '
                f'(stages {tuple(stage_blocks)}) but the structure has '
                f'{len(self)} rows')
        if self.num_scales != num_scales:
            raise ValueError(
                f'the structure has {self.num_scales} scales per block but '
                f'{arch} has {num_scales} pooling factors')
        expected = [s for n, s in zip(stage_blocks, sides) for _ in range(n)]
        for k, (got, want) in enumerate(zip(self.sides, expected)):
            if got != want:
                raise ValueError(
                    f'block {k}: structure side {got} does not match the '
                    f'reference side {want} of {arch} at that block')

    def dump(self, path: str) -> None:
        """Write ``{"rows": ..., "meta": ...}`` to ``path`` atomically, one
        row per line."""
        rows = ',\n  '.join(json.dumps(row) for row in self.rows())
        meta = json.dumps(self.meta, indent=1).replace('\n', '\n ')
        write_atomically(
            path, f'{{\n "rows": [\n  {rows}\n ],\n "meta": {meta}\n}}\n')
