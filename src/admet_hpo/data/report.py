"""Summary counts of a validated table, as ``hpo data check`` prints them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from admet_hpo.data.censoring import censoring_counts
from admet_hpo.data.table import MoleculeTable, SkippedRow
from admet_hpo.data.validation import Problem, ValidatedTable

MISSING_VALUE_LABEL = "(missing)"


@dataclass(frozen=True)
class GroupCounts:
    """Rows and labels per task for each value of one grouping column (experiment, condition, quality)."""

    role: str
    rows: dict[str, int]
    labels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class TableReport:
    """Everything ``hpo data check`` reports about a table file.

    ``file_rows`` counts non-blank data rows in the file, ``rows`` the usable ones (parsable SMILES);
    counts are over usable rows; ``problems`` holds every finding, fatal or not. ``censoring`` counts
    each task's labelled cells by kind: exact (``=``), upper bound (``<``), lower bound (``>``).
    """

    source: str
    file_rows: int
    rows: int
    target_names: tuple[str, ...]
    labels: dict[str, int]
    rows_without_labels: int
    groups: tuple[GroupCounts, ...]
    skipped: tuple[SkippedRow, ...]
    problems: tuple[Problem, ...]
    content_hash: str
    censoring: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return not self.problems


def label_counts(table: MoleculeTable, rows: np.ndarray | None = None) -> dict[str, int]:
    """Number of labels per target over ``rows`` (all rows by default)."""
    targets = table.targets if rows is None else table.targets[rows]
    counts = (~np.isnan(targets)).sum(axis=0)
    return {name: int(count) for name, count in zip(table.target_names, counts, strict=True)}


def _group_counts(table: MoleculeTable, role: str, values: np.ndarray, order: Sequence[str]) -> GroupCounts:
    """Counts per value of one column; values in ``order`` come first in that order, the rest as they
    first appear in the table."""
    labels = np.where(values == "", MISSING_VALUE_LABEL, values)
    present = set(labels)
    names = [name for name in order if name in present]
    names += [name for name in dict.fromkeys(labels) if name not in names]
    return GroupCounts(
        role=role,
        rows={str(name): int((labels == name).sum()) for name in names},
        labels={str(name): label_counts(table, np.flatnonzero(labels == name)) for name in names},
    )


def summarize(validated: ValidatedTable, quality_order: Sequence[str] = ()) -> TableReport:
    """The :class:`TableReport` of a validated table (qualities listed in ``quality_order`` first)."""
    table = validated.table
    columns = (
        ("experiment", table.experiment, ()),
        ("condition", table.condition, ()),
        ("quality", table.quality, quality_order),
    )
    groups = tuple(
        _group_counts(table, role, values, order) for role, values, order in columns if values is not None
    )
    return TableReport(
        source=table.source,
        file_rows=validated.file_rows,
        rows=len(table),
        target_names=table.target_names,
        labels=label_counts(table),
        rows_without_labels=int(np.isnan(table.targets).all(axis=1).sum()),
        groups=groups,
        skipped=table.skipped,
        problems=validated.problems,
        content_hash=table.content_hash,
        censoring={
            name: censoring_counts(
                table.targets[:, j], None if table.censoring is None else table.censoring[:, j]
            )
            for j, name in enumerate(table.target_names)
        },
    )
