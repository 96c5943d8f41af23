"""Loading a table file into a validated :class:`MoleculeTable`, or checking it without raising."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from admet_hpo.data.reading import read_table_file
from admet_hpo.data.report import TableReport, summarize
from admet_hpo.data.table import MoleculeTable, TableSpec
from admet_hpo.data.validation import numeric_share, validate_raw_table
from admet_hpo.errors import DataValidationError

logger = logging.getLogger(__name__)


def load_table(path: Path | str, spec: TableSpec) -> MoleculeTable:
    """Read and validate a CSV or Parquet table (chosen by suffix).

    Raises :class:`DataValidationError` listing every fatal problem (unknown columns, non-numeric targets,
    missing or unknown qualities, missing required experiment / condition / split values, unparsable
    SMILES when ``spec.strict``), each naming the file, the column and the first offending rows. Rows
    with an unparsable SMILES are otherwise left out, listed in ``MoleculeTable.skipped`` and logged.
    """
    validated = validate_raw_table(read_table_file(Path(path)), spec)
    fatal = validated.fatal_problems
    if fatal:
        raise DataValidationError("\n".join(problem.message for problem in fatal))
    for problem in validated.problems:
        logger.warning("%s", problem.message)
    return validated.table


def check_table(path: Path | str, spec: TableSpec) -> TableReport:
    """Validate a table and report every problem and the summary counts; raises only when the file
    itself cannot be read (missing, unsupported suffix, not CSV / Parquet)."""
    return summarize(
        validate_raw_table(read_table_file(Path(path)), spec), quality_order=spec.qualities or ()
    )


def guess_target_columns(
    path: Path | str, exclude: Collection[str], min_numeric_share: float = 0.5
) -> tuple[str, ...]:
    """Columns not in ``exclude`` where at least ``min_numeric_share`` of the non-empty cells are numbers:
    the likely targets of a table whose targets were not given (``hpo data check`` without
    ``--targets``). A column with a few bad cells still qualifies, so its bad cells get reported."""
    raw = read_table_file(Path(path))
    return tuple(
        column
        for column in raw.columns
        if column not in exclude and numeric_share(raw.cells(column)) >= min_numeric_share
    )
