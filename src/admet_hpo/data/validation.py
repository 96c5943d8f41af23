"""Validation of a table's cells against a :class:`TableSpec` (SPEC section 1).

:func:`validate_raw_table` never raises on bad content: it collects every :class:`Problem` and builds a
lenient :class:`MoleculeTable` from what is usable (bad numbers become missing labels, rows with an
unparsable SMILES are left out), so ``hpo data check`` can report all problems and summary counts at
once. :func:`admet_hpo.data.loading.load_table` raises when any problem is fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from admet_hpo.data.censoring import ParsedCells, parse_qualifier_cells, parse_target_cells
from admet_hpo.data.hashing import table_content_hash
from admet_hpo.data.molecules import smiles_error
from admet_hpo.data.reading import RawTable
from admet_hpo.data.table import MoleculeTable, SkippedRow, TableSpec
from admet_hpo.data.transforms import apply_transform, describe_transform
from admet_hpo.errors import shown as short

MAX_SHOWN_ROWS = 5
#: What a number in a target cell looks like (see ``admet_hpo.data.censoring.PLAIN_NUMBER``).
NUMBER_FORM = "a plain decimal number such as 12, -0.5 or 1.5e-3"
SPLIT_VALUES = ("train", "val", "test")


@dataclass(frozen=True)
class Problem:
    """One validation finding. ``fatal`` problems make loading fail; the others (unparsable SMILES when
    ``strict`` is off) only skip rows. ``lines`` are the first offending rows, ``count`` all of them."""

    column: str | None
    message: str
    lines: tuple[int, ...]
    count: int
    fatal: bool


@dataclass(frozen=True)
class ValidatedTable:
    """The usable part of a table and every problem found; ``file_rows`` counts non-blank data rows."""

    table: MoleculeTable
    problems: tuple[Problem, ...]
    file_rows: int

    @property
    def fatal_problems(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.fatal)


def describe_rows(location: str, lines: Sequence[int]) -> str:
    """``"lines 3, 5, 9"`` or ``"lines 2, 3, 4, 5, 6 and 12 more"`` (at most :data:`MAX_SHOWN_ROWS`)."""
    shown = ", ".join(str(int(line)) for line in lines[:MAX_SHOWN_ROWS])
    more = f" and {len(lines) - MAX_SHOWN_ROWS} more" if len(lines) > MAX_SHOWN_ROWS else ""
    return f"{location}{'s' if len(lines) > 1 else ''} {shown}{more}"


class _Collector:
    """Builds problem messages that all name the file, the column and the first offending rows."""

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def add(
        self,
        column: str | None,
        lines: Sequence[int],
        finding: str,
        expected: str,
        fatal: bool,
        detail: str = "",
    ) -> None:
        """Record ``finding`` at ``lines`` (``detail`` follows the row list, e.g. example values)."""
        where = f"column {column!r}: " if column is not None else ""
        rows = f" at {describe_rows(self.raw.location, lines)}" if len(lines) else ""
        message = f"{self.raw.source}: {where}{finding}{rows}{detail}; expected {expected}"
        self.problems.append(
            Problem(column, message, tuple(int(x) for x in lines[:MAX_SHOWN_ROWS]), len(lines), fatal)
        )

    def missing_column(self, column: str, role: str) -> None:
        available = ", ".join(repr(name) for name in self.raw.columns) or "(none)"
        message = f"{self.raw.source}: column {column!r} ({role}) not found; available columns: {available}"
        self.problems.append(Problem(column, message, (), 0, True))


def _examples(values: np.ndarray, lines: np.ndarray, location: str) -> str:
    shown = ", ".join(f"{short(values[i])} at {location} {lines[i]}" for i in range(min(3, len(values))))
    return f" (e.g. {shown})"


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def numeric_share(cells: np.ndarray) -> float:
    """The share of non-empty cells that are numbers, qualified or not (0 for an empty column)."""
    parsed = parse_target_cells(cells)
    numbers = int(np.isfinite(parsed.values).sum())
    present = numbers + int(parsed.non_numeric.sum() + parsed.bad_qualifier.sum())
    return numbers / present if present else 0.0


def _check_smiles(
    raw: RawTable, spec: TableSpec, out: _Collector
) -> tuple[np.ndarray, np.ndarray, list[SkippedRow]]:
    """The SMILES strings, a mask of unparsable ones and their :class:`SkippedRow` records."""
    cells = raw.cells(spec.smiles_col)
    smiles = np.array(["" if cell is None else str(cell) for cell in cells], dtype=object)
    reasons = [smiles_error(s) for s in smiles]
    bad = np.array([reason is not None for reason in reasons], dtype=bool)
    skipped = [SkippedRow(int(raw.lines[i]), smiles[i], reasons[i] or "") for i in np.flatnonzero(bad)]
    if skipped:
        action = "the table is rejected because strict is on" if spec.strict else "these rows are skipped"
        out.add(
            spec.smiles_col,
            raw.lines[bad],
            f"{len(skipped)} unparsable SMILES",
            f"SMILES strings that RDKit parses ({action})",
            fatal=spec.strict,
            detail=_examples(smiles[bad], raw.lines[bad], raw.location),
        )
    return smiles, bad, skipped


def _check_qualifier_column(
    raw: RawTable, target: str, column: str, parsed: ParsedCells, out: _Collector
) -> np.ndarray:
    """Merge a target's qualifier column into its inline codes; report unknown, conflicting and dangling
    qualifiers (a qualifier beside an empty target cell). Returns the merged codes."""
    codes, given, unknown = parse_qualifier_cells(raw.cells(column))
    role = f"qualifier column of target {target!r}"
    cells = raw.cells(column)
    expected_symbols = "one of =, <, >, <=, >= or an empty cell"
    if unknown.any():
        out.add(
            column,
            raw.lines[unknown],
            _plural(int(unknown.sum()), "bad qualifier", "bad qualifiers") + f" ({role})",
            expected_symbols,
            fatal=True,
            detail=_examples(cells[unknown], raw.lines[unknown], raw.location),
        )
    dangling = given & ~unknown & np.isnan(parsed.values) & ~parsed.non_numeric & ~parsed.bad_qualifier
    if dangling.any():
        out.add(
            column,
            raw.lines[dangling],
            _plural(int(dangling.sum()), "qualifier", "qualifiers") + f" on an empty {target!r} cell",
            f"a qualifier only beside a value ({role})",
            fatal=True,
            detail=_examples(cells[dangling], raw.lines[dangling], raw.location),
        )
    conflict = (codes != 0) & (parsed.codes != 0) & (codes != parsed.codes)
    if conflict.any():
        out.add(
            column,
            raw.lines[conflict],
            _plural(int(conflict.sum()), "qualifier", "qualifiers")
            + f" contradicting the inline one in {target!r}",
            f"the same direction in both columns, or the qualifier in one of them ({role})",
            fatal=True,
        )
    return np.where(codes != 0, codes, parsed.codes).astype(np.int8)


def _check_target_column(
    raw: RawTable, spec: TableSpec, column: str, out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    """One target column: values and censoring codes after qualifiers and the target's transform."""
    cells = raw.cells(column)
    parsed = parse_target_cells(cells)
    for bad, finding, expected in (
        (parsed.non_numeric, "non-numeric value", f"{NUMBER_FORM}, or an empty cell for a missing label"),
        (
            parsed.bad_qualifier,
            "bad qualifier",
            "a number with an optional qualifier: <x, >x, <=x, >=x or =x (e.g. '<0.1', '> 100')",
        ),
    ):
        if bad.any():
            out.add(
                column,
                raw.lines[bad],
                _plural(int(bad.sum()), finding, finding + "s"),
                expected,
                fatal=True,
                detail=_examples(cells[bad], raw.lines[bad], raw.location),
            )
    if not (np.isfinite(parsed.values).any() or parsed.non_numeric.any() or parsed.bad_qualifier.any()):
        out.add(column, [], "no labels: every cell is empty", f"{NUMBER_FORM} in a target column", True)
    codes = parsed.codes
    qualifier_col = spec.qualifier_cols.get(column)
    if qualifier_col is not None:
        if qualifier_col in raw.columns:
            codes = _check_qualifier_column(raw, column, qualifier_col, parsed, out)
        else:
            out.missing_column(qualifier_col, f"qualifier column of target {column!r}")
    transform = spec.transforms.get(column)
    if transform is None:
        return parsed.values, np.where(np.isnan(parsed.values), 0, codes).astype(np.int8)
    values, codes, invalid = apply_transform(transform, parsed.values, codes)
    if invalid.any():
        out.add(
            column,
            raw.lines[invalid],
            _plural(int(invalid.sum()), "value", "values")
            + f" outside the domain of {describe_transform(transform)}",
            "values > 0 for log10 after the offset: set data.transforms."
            f"{column}.offset or .floor for zeros and negatives",
            fatal=True,
            detail=_examples(cells[invalid], raw.lines[invalid], raw.location),
        )
    return values, np.where(np.isnan(values), 0, codes).astype(np.int8)


def _check_targets(raw: RawTable, spec: TableSpec, out: _Collector) -> tuple[np.ndarray, np.ndarray]:
    """The target matrix (NaN = missing) and its censoring codes, every problem reported."""
    shape = (len(raw.frame), len(spec.target_cols))
    targets, censoring = np.full(shape, np.nan), np.zeros(shape, dtype=np.int8)
    for j, column in enumerate(spec.target_cols):
        if column not in raw.columns:
            out.missing_column(column, "target")
            continue
        targets[:, j], censoring[:, j] = _check_target_column(raw, spec, column, out)
    return targets, censoring


def _check_category(
    raw: RawTable,
    role: str,
    column: str | None,
    required: bool,
    allowed: Sequence[str] | None,
    why: str,
    out: _Collector,
) -> np.ndarray | None:
    """Read a categorical column. Missing cells become ``""``; they are fatal when ``required``, and any
    value outside ``allowed`` (when given) is fatal too."""
    if column is None:
        return None
    if column not in raw.columns:
        if required:
            out.missing_column(column, f"{role} column, {why}")
        return None
    cells = raw.cells(column)
    values = np.array(["" if cell is None else str(cell) for cell in cells], dtype=object)
    missing = values == ""
    expected = f"one of {', '.join(allowed)}" if allowed else "a value on every row"
    if required and missing.any():
        out.add(
            column,
            raw.lines[missing],
            _plural(int(missing.sum()), "row", "rows") + f" with no {role} value",
            f"{expected} ({why})",
            True,
        )
    if allowed is not None:
        unknown = ~missing & ~np.isin(values, list(allowed))
        if unknown.any():
            found = ", ".join(short(v) for v in list(dict.fromkeys(values[unknown]))[:MAX_SHOWN_ROWS])
            out.add(
                column,
                raw.lines[unknown],
                _plural(int(unknown.sum()), "value", "values") + " not in the allowed list",
                expected,
                True,
                detail=f" (found {found})",
            )
    return values


def validate_raw_table(raw: RawTable, spec: TableSpec) -> ValidatedTable:
    """Check every column ``spec`` names against ``raw`` and build the usable table (see module docs)."""
    out = _Collector(raw)
    if not spec.target_cols:
        out.add(None, [], "no target columns were given", "at least one target column", True)
    n_rows = len(raw.frame)
    if spec.smiles_col in raw.columns:
        smiles, unparsable, skipped = _check_smiles(raw, spec, out)
    else:
        out.missing_column(spec.smiles_col, "SMILES column")
        smiles, unparsable, skipped = np.full(n_rows, "", dtype=object), np.zeros(n_rows, dtype=bool), []
    targets, censoring = _check_targets(raw, spec, out)
    rules: dict[str, tuple[str | None, bool, Sequence[str] | None, str]] = {
        "quality": (
            spec.quality_col,
            spec.qualities is not None,
            spec.qualities,
            "the quality curriculum is on",
        ),
        "experiment": (spec.experiment_col, spec.require_experiment, None, "batches are experiment-aware"),
        "condition": (spec.condition_col, spec.require_condition, None, "batches are condition-balanced"),
        "split": (
            spec.split_col,
            spec.split_col is not None,
            SPLIT_VALUES,
            "the split comes from this column",
        ),
    }
    categories = {role: _check_category(raw, role, *rule, out) for role, rule in rules.items()}
    keep = ~unparsable
    if not keep.any():
        finding = "the table has no data rows" if n_rows == 0 else "no row has a usable SMILES"
        out.add(None, [], finding, "at least one data row with a SMILES that RDKit parses", True)

    def kept(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[keep]

    parts = {"smiles": smiles[keep], "targets": targets[keep]}
    parts.update({role: kept(values) for role, values in categories.items()})
    parts["censoring"] = censoring[keep] if censoring[keep].any() else None
    table = MoleculeTable(
        source=raw.source,
        target_names=tuple(spec.target_cols),
        lines=raw.lines[keep],
        skipped=tuple(skipped),
        content_hash=table_content_hash(target_names=spec.target_cols, **parts),
        **parts,
    )
    return ValidatedTable(table, tuple(out.problems), n_rows)
