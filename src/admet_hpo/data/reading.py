"""Reading a CSV or Parquet table into cells, keeping each row's position in the file.

Every cell comes back as a string or ``None`` (missing), except Parquet numeric columns, which keep their
numbers; :mod:`admet_hpo.data.validation` decides what each column must hold. Rows whose cells are all
empty (blank lines) are dropped but never renumber the others: a CSV row's ``line`` is its 1-based line
in the file (the header is line 1); a Parquet row's ``line`` is its 1-based row number.

Missing cells. In a CSV, an empty cell and pandas' default missing-value markers (``NA``, ``N/A``,
``n/a``, ``NaN``, ``nan``, ``null``, ``NULL``, ``None``, ``#N/A``, ``<NA>``, ... exactly as written, as
``pandas.read_csv`` and chemprop read them) are missing, in every column; in a Parquet file, nulls are.

Column names are stripped of surrounding spaces and must then be unique (``smiles,y, y`` is an error,
as is a ``smiles`` header given twice, which pandas would silently rename ``smiles.1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from admet_hpo.errors import DataValidationError, non_utf8_position

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class RawTable:
    """The cells of a table file. ``location`` is ``"line"`` (CSV) or ``"row"`` (Parquet) for messages."""

    source: str
    frame: pd.DataFrame
    lines: np.ndarray
    location: str

    @property
    def columns(self) -> list[str]:
        return [str(column) for column in self.frame.columns]

    def cells(self, column: str) -> np.ndarray:
        """The column as an object array: stripped strings, numbers (Parquet) or ``None`` for missing."""
        series = self.frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            return series.astype(float).to_numpy(dtype=object, na_value=None)
        values = series.to_numpy(dtype=object, na_value=None)
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            text = None if value is None else str(value).strip()
            out[i] = text or None
        return out


def location_word(source: str | Path) -> str:
    """How rows of ``source`` are numbered in messages: ``"line"`` for CSV, ``"row"`` for Parquet."""
    return "row" if SUFFIXES.get(Path(source).suffix.lower()) == "parquet" else "line"


def read_table_file(path: Path) -> RawTable:
    """Read a ``.csv``, ``.parquet`` or ``.pq`` file; unreadable files raise :class:`DataValidationError`."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataValidationError(
            f"{path}: unsupported table format {path.suffix or '(no suffix)'!r}; "
            f"expected a file ending in {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise DataValidationError(f"{path}: file not found")
    if kind == "csv":
        frame = _read_csv(path)
        names = _csv_header(path)
        if len(names) != len(frame.columns):  # rows wider than the header: pandas' own reading stands
            names = [str(column) for column in frame.columns]
    else:
        frame = _read_parquet(path)
        names = [str(column) for column in frame.columns]
    frame.columns = _unique_names(path, names, "line 1" if kind == "csv" else "the schema")
    offset = 2 if kind == "csv" else 1
    lines = np.arange(len(frame), dtype=np.int64) + offset
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return RawTable(str(path), frame, lines, location_word(path))


def _unique_names(path: Path, names: list[str], where: str) -> list[str]:
    """``names`` stripped of surrounding spaces; a name given twice is a :class:`DataValidationError`."""
    stripped = [name.strip() for name in names]
    first: dict[str, int] = {}
    for index, name in enumerate(stripped):
        if name not in first:
            first[name] = index
            continue
        written = {names[first[name]], names[index]}
        spelled = f" (written {' and '.join(repr(n) for n in sorted(written))})" if len(written) > 1 else ""
        raise DataValidationError(
            f"{path}: {where}: column name {name!r} appears twice, as columns {first[name] + 1} and "
            f"{index + 1}{spelled}; expected unique column names (surrounding spaces do not count)"
        )
    return stripped


def _csv_header(path: Path) -> list[str]:
    """The header cells as written (``read_csv`` renames a repeated name ``x`` to ``x.1``)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return [str(name) for name in header.iloc[0]]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataValidationError(
            f"{path}: the file is empty; expected a header line with column names"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(f"{path}: cannot parse as CSV: {exc}") from None
    except UnicodeDecodeError:  # its offset is within pandas' read buffer: find the file's own
        position = non_utf8_position(path.read_bytes()) or "undecodable bytes"
        raise DataValidationError(f"{path}: not UTF-8 text: {position}; save the CSV as UTF-8") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot read as Parquet: {exc}") from None
