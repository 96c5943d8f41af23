"""Integer codes for categorical row labels (experiment, condition, quality without curriculum)."""

from __future__ import annotations

import numpy as np

from admet_hpo.errors import DataValidationError


def encode_labels(
    values: np.ndarray, column: str, rows: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """Codes ``0..k-1`` and the sorted label names (as strings) of ``values``.

    Missing values (None, NaN) among ``rows`` (default: all rows) raise :class:`DataValidationError`
    naming ``column`` and the first offending positions; missing values elsewhere get code -1.
    """
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.floating):
        missing = np.isnan(array)
    elif array.dtype == object:
        missing = (array == None) | (array != array)  # noqa: E711  (None and NaN, element-wise)
    else:
        missing = np.zeros(array.shape, dtype=bool)
    checked = missing if rows is None else missing[rows]
    if checked.any():
        where = np.flatnonzero(checked) if rows is None else np.asarray(rows)[np.flatnonzero(checked)]
        raise DataValidationError(
            f"{column}: {where.size} labelled row(s) have no {column} label; first rows {where[:5].tolist()}"
        )
    present = array[~missing]
    if not np.issubdtype(present.dtype, np.number):
        present = present.astype(str)
    names, inverse = np.unique(present, return_inverse=True)
    codes = np.full(array.shape, -1, dtype=np.int64)
    codes[~missing] = inverse
    return codes, [str(name) for name in names.tolist()]
