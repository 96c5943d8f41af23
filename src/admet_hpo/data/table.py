"""The validated in-memory form of a data table (SPEC section 1).

A :class:`MoleculeTable` holds one row per measurement record: a SMILES string, a target matrix with NaN
for missing labels, and the optional quality, experiment, condition and split columns. Rows whose SMILES
could not be parsed are not in it; they are listed in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from admet_hpo.config.training import TargetTransformConfig


@dataclass(frozen=True)
class TableSpec:
    """Which columns of a table mean what, and which of them a training run requires.

    ``qualities`` (best first) is given when the quality curriculum is on: the quality column is then
    required and every row's value must be one of them. ``require_experiment`` / ``require_condition``
    are set when batches are experiment-aware / condition-balanced. Optional columns that are present are
    read even when not required (``hpo data check`` reports them). ``qualifier_cols`` maps a target to
    its qualifier column (see :mod:`admet_hpo.data.censoring`); ``transforms`` maps a target to its
    transform from raw units (see :mod:`admet_hpo.data.transforms`).
    """

    target_cols: tuple[str, ...]
    smiles_col: str = "smiles"
    quality_col: str = "quality"
    experiment_col: str = "experiment"
    condition_col: str = "condition"
    split_col: str | None = None
    qualities: tuple[str, ...] | None = None
    require_experiment: bool = False
    require_condition: bool = False
    strict: bool = False
    qualifier_cols: Mapping[str, str] = field(default_factory=dict)
    transforms: Mapping[str, TargetTransformConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedRow:
    """A row left out of the table: its 1-based line number in the file and why."""

    line: int
    smiles: str
    reason: str


@dataclass(frozen=True)
class MoleculeTable:
    """A validated table. Arrays are aligned by row; ``lines`` are 1-based file line numbers (header = 1).

    ``censoring`` (``int8``, the shape of ``targets``) holds each cell's censoring code (0 exact, -1 the
    value is an upper bound ``<``, +1 a lower bound ``>``, see :mod:`admet_hpo.data.censoring`); ``None``
    means every cell is exact.
    """

    source: str
    smiles: np.ndarray
    targets: np.ndarray
    target_names: tuple[str, ...]
    lines: np.ndarray
    quality: np.ndarray | None = None
    experiment: np.ndarray | None = None
    condition: np.ndarray | None = None
    split: np.ndarray | None = None
    skipped: tuple[SkippedRow, ...] = field(default_factory=tuple)
    content_hash: str = ""
    censoring: np.ndarray | None = None

    @property
    def censored(self) -> np.ndarray:
        """``(rows, tasks)`` mask of labelled cells that are bounds, not exact values."""
        if self.censoring is None:
            return np.zeros(self.targets.shape, dtype=bool)
        return (self.censoring != 0) & np.isfinite(self.targets)

    def __len__(self) -> int:
        return int(self.smiles.shape[0])

    def subset(self, rows: np.ndarray) -> MoleculeTable:
        """The rows ``rows`` (integer indices) as a new table with the same source and hash."""

        def take(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[rows]

        return MoleculeTable(
            source=self.source,
            smiles=self.smiles[rows],
            targets=self.targets[rows],
            target_names=self.target_names,
            lines=self.lines[rows],
            quality=take(self.quality),
            experiment=take(self.experiment),
            condition=take(self.condition),
            split=take(self.split),
            skipped=self.skipped,
            content_hash=self.content_hash,
            censoring=take(self.censoring),
        )


@dataclass(frozen=True)
class SplitIndices:
    """Row indices of the train / val / test parts of a table, and a hash that identifies the split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    split_hash: str
