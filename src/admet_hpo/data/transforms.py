"""Per-target transforms from raw assay units to the modelled scale, applied to values and bounds alike.

A transform runs before standardisation, in this order: ``v + offset``; clip below at ``floor``;
``log10`` (when on); negate (when ``negate``). Every step is monotone, so a bound stays a bound of the
transformed value: increasing steps keep ``<`` / ``>``, the sign flip swaps them (the censoring code is
negated). A bound below the floor is clipped to it like a value. A value that is not positive when
``log10`` meets it is reported (the caller names the cells); the config says how to handle zeros: an
``offset`` (``log10(v + offset)``) or a ``floor`` (``log10(max(v, floor))``).

:func:`invert_transform` maps model predictions back to raw units (the clip at the floor is the one
step it cannot undo: a value at the floor comes back as the floor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from admet_hpo.config.training import TargetTransformConfig


def describe_transform(transform: TargetTransformConfig) -> str:
    """A short formula, e.g. ``-log10(max(v + 1, 0.1))``, for messages."""
    inner = f"v + {transform.offset:g}" if transform.offset else "v"
    if transform.floor is not None:
        inner = f"max({inner}, {transform.floor:g})"
    formula = f"log10({inner})" if transform.log10 else inner
    return f"-{formula}" if transform.negate else formula


def apply_transform(
    transform: TargetTransformConfig, values: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transformed values, censoring codes, and a mask of labelled cells outside log10's domain (those
    become missing). NaN stays NaN."""
    out = np.asarray(values, dtype=float) + transform.offset
    if transform.floor is not None:
        out = np.where(np.isnan(out), out, np.maximum(out, transform.floor))
    invalid = np.zeros(out.shape, dtype=bool)
    if transform.log10:
        invalid = np.isfinite(out) & (out <= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(invalid, np.nan, np.log10(np.where(invalid, 1.0, out)))
    codes = np.asarray(codes, dtype=np.int8)
    if transform.negate:
        out, codes = -out, (-codes).astype(np.int8)
    return out, codes, invalid


def invert_transform(transform: TargetTransformConfig, values: np.ndarray) -> np.ndarray:
    """Values on the modelled scale back in raw assay units: undo the sign flip, ``log10`` and the
    ``offset`` (in that order). The floor clip is not undone; NaN stays NaN, and a value too large for
    ``10 ** v`` becomes ``inf``."""
    out = np.asarray(values, dtype=float)
    if transform.negate:
        out = -out
    if transform.log10:
        with np.errstate(over="ignore"):
            out = np.power(10.0, out)
    return out - transform.offset
