"""Censored labels: qualifiers such as ``<0.1`` or ``> 100`` read into a per-cell censoring code.

A censoring code is an ``int8`` per target cell, aligned with the target matrix:

- :data:`EXACT` (0): the cell holds a measured value (or is missing);
- :data:`BELOW` (-1): ``<x`` / ``<=x``: the true value lies below the bound ``x`` (an upper bound);
- :data:`ABOVE` (+1): ``>x`` / ``>=x``: the true value lies above the bound ``x`` (a lower bound).

The sign is the direction of the true value from the stored number, so a sign flip of the values
negates the codes. ``<=`` and ``>=`` mean the same as ``<`` and ``>`` (a continuous value sits on the
bound with probability zero); ``=x`` is exact. Qualifiers come inline in a target cell or from a
separate qualifier column (``=``, ``<``, ``>``, ``<=``, ``>=`` or empty); this module only parses, and
:mod:`admet_hpo.data.validation` reports what cannot be parsed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

EXACT, BELOW, ABOVE = 0, -1, 1
QUALIFIER_CODES: Mapping[str, int] = {"=": EXACT, "<": BELOW, "<=": BELOW, ">": ABOVE, ">=": ABOVE}
SYMBOLS: Mapping[int, str] = {EXACT: "=", BELOW: "<", ABOVE: ">"}
TARGET_PLACEHOLDER = "{target}"

# A qualifier, then a number: '<0.1', '> 100', '>= 1e3', '=5'. Anything else starting with one of these
# characters (or '~', '≤', '≥') is a malformed qualifier, not a plain non-numeric value.
_QUALIFIED = re.compile(r"^(<=|>=|<|>|=)?\s*([^\s<>=].*)$")
_QUALIFIER_START = ("<", ">", "=", "~", "≤", "≥")


@dataclass(frozen=True)
class ParsedCells:
    """One target column parsed: values (NaN = missing), censoring codes and the offending cells.

    ``non_numeric``: a cell that is neither a :data:`PLAIN_NUMBER` nor a qualified one (``abc``, ``inf``,
    ``1_000``);
    ``bad_qualifier``: a cell that starts like a qualifier but is not one (``~5``, ``<<3``, ``<``).
    Offending cells are missing in ``values``.
    """

    values: np.ndarray
    codes: np.ndarray
    non_numeric: np.ndarray
    bad_qualifier: np.ndarray


#: A plain number: ASCII digits, an optional sign, decimal point and exponent (``12``, ``-0.5``, ``.5``,
#: ``1.5e-3``). Python's ``float`` would also take ``1_000``, full-width digits, ``inf`` and ``nan``;
#: in a data table those are typos or placeholders, not numbers.
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _finite(text: str) -> float | None:
    if PLAIN_NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_cell(cell: object) -> tuple[float, int] | str | None:
    """``(value, code)`` of a target cell, ``None`` when it is missing, or the kind of problem
    (``"non_numeric"`` / ``"bad_qualifier"``). Parquet numbers are exact values."""
    if cell is None:
        return None
    if not isinstance(cell, str):
        value = float(cell) if isinstance(cell, int | float) and not isinstance(cell, bool) else math.nan
        return (value, EXACT) if math.isfinite(value) else "non_numeric"
    text = cell.strip()
    if not text:
        return None
    match = _QUALIFIED.match(text)
    if match is not None:
        value = _finite(match.group(2).strip())
        if value is not None:
            return value, QUALIFIER_CODES[match.group(1) or "="]
    return "bad_qualifier" if text.startswith(_QUALIFIER_START) else "non_numeric"


def parse_target_cells(cells: Sequence[object]) -> ParsedCells:
    """Parse a column of target cells (strings, numbers or ``None``) with :func:`parse_cell`."""
    n = len(cells)
    values, codes = np.full(n, np.nan), np.zeros(n, dtype=np.int8)
    problems = {"non_numeric": np.zeros(n, dtype=bool), "bad_qualifier": np.zeros(n, dtype=bool)}
    for i, cell in enumerate(cells):
        parsed = parse_cell(cell)
        if isinstance(parsed, str):
            problems[parsed][i] = True
        elif parsed is not None:
            values[i], codes[i] = parsed
    return ParsedCells(values, codes, problems["non_numeric"], problems["bad_qualifier"])


def parse_qualifier_cells(cells: Sequence[object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A qualifier column: codes, a mask of cells holding a qualifier, and a mask of unknown ones.

    An empty cell means exact; ``=``, ``<``, ``<=``, ``>``, ``>=`` (surrounding spaces allowed) are
    qualifiers; anything else is unknown (code :data:`EXACT`, reported by the caller).
    """
    n = len(cells)
    codes, given, unknown = np.zeros(n, dtype=np.int8), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for i, cell in enumerate(cells):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        given[i] = True
        if text in QUALIFIER_CODES:
            codes[i] = QUALIFIER_CODES[text]
        else:
            unknown[i] = True
    return codes, given, unknown


def qualifier_columns(pattern: str | Mapping[str, str] | None, targets: Sequence[str]) -> dict[str, str]:
    """Target -> qualifier column: a pattern such as ``"{target} modifier"`` names one column per
    target; a mapping names the columns of some targets; ``None`` means no qualifier columns."""
    if pattern is None:
        return {}
    if isinstance(pattern, str):
        return {target: pattern.replace(TARGET_PLACEHOLDER, target) for target in targets}
    return dict(pattern)


def censoring_counts(values: np.ndarray, codes: np.ndarray | None) -> dict[str, int]:
    """How many labelled cells of one target are exact, ``<`` bounds and ``>`` bounds."""
    labelled = np.isfinite(values)
    codes = np.zeros(len(values), dtype=np.int8) if codes is None else codes
    return {SYMBOLS[code]: int((labelled & (codes == code)).sum()) for code in (EXACT, BELOW, ABOVE)}
