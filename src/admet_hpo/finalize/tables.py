"""``hpo predict``'s files: the SMILES column of an input table in, the input with predictions out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from admet_hpo.data.reading import RawTable, read_table_file
from admet_hpo.errors import DataValidationError
from admet_hpo.finalize.ensemble import EnsemblePrediction

#: Suffix given to input columns named like a prediction column, so that both are kept.
INPUT_SUFFIX = "_input"


@dataclass(frozen=True)
class SmilesInput:
    """An input table and its SMILES column (``None`` for an empty cell), row by row."""

    raw: RawTable
    smiles_col: str
    smiles: list[str | None]

    def location(self, position: int) -> str:
        """Where row ``position`` is in the file, e.g. ``line 7`` (CSV; the header is line 1)."""
        return f"{self.raw.location} {int(self.raw.lines[position])}"


def read_smiles_input(path: Path, smiles_col: str) -> SmilesInput:
    """Read a CSV or Parquet table to predict; :class:`DataValidationError` naming the file when it is
    missing, empty, unreadable, has no rows or has no column ``smiles_col``."""
    raw = read_table_file(Path(path))
    if smiles_col not in raw.columns:
        raise DataValidationError(
            f"{path}: no SMILES column {smiles_col!r} (columns: {', '.join(raw.columns) or 'none'}); "
            "name it with --smiles-col"
        )
    if len(raw.frame) == 0:
        raise DataValidationError(f"{path}: no rows to predict (only a header)")
    return SmilesInput(raw, smiles_col, list(raw.cells(smiles_col)))


def output_frame(source: SmilesInput, prediction: EnsemblePrediction) -> tuple[pd.DataFrame, list[str]]:
    """The input's columns followed by the prediction columns, and the input columns renamed because
    a prediction column has their name (``<name>`` -> ``<name>_input``)."""
    predicted = prediction.frame()
    inputs = source.raw.frame.reset_index(drop=True)
    clashes = [column for column in inputs.columns if column in predicted.columns]
    inputs = inputs.rename(columns={column: f"{column}{INPUT_SUFFIX}" for column in clashes})
    return pd.concat([inputs, predicted], axis=1), clashes
