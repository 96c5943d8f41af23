"""Curriculum shares as epoch-level targets under batch composition (SPEC 2.7.1).

Batch composition fixes each cell's share of an epoch's slots first (experiment choice x condition
quotas, plus leaked slots); the curriculum's weights then act only inside cells, so the epoch's quality
shares drift from the configured ``p_q`` when cells differ in their quality mix. The fix re-weights the
qualities inside each cell: iterative proportional fitting of the (cell, quality) table of expected
slots, with the cells' slot shares and ``p_q`` as margins, starting from the unadjusted table (so the
result is the closest table, in Kullback-Leibler divergence, with those margins). The cells' margins
are kept exactly; the quality margins are met as closely as the cells allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SWEEPS = 500
TOLERANCE = 1e-10


@dataclass(frozen=True)
class QualityFit:
    """Result of :func:`fit_quality_shares`.

    ``mix[c, q]`` is quality q's share of cell c's draws (rows sum to 1, or 0 for a cell without
    slots); ``achieved[q] = sum_c cell_share[c] * mix[c, q]``; ``sweeps`` is the number of sweeps run.
    """

    mix: np.ndarray
    achieved: np.ndarray
    sweeps: int


def fit_quality_shares(seed: np.ndarray, cell_share: np.ndarray, target: np.ndarray) -> QualityFit:
    """Fit the ``(C, Q)`` table ``seed`` (expected slots per cell and quality, >= 0) to the margins.

    Args:
        seed: unadjusted expected slots (or masses) per (cell, quality); zeros stay zero (a cell
            without rows of a quality cannot draw it).
        cell_share: ``(C,)`` each cell's share of the slots (kept exactly).
        target: ``(Q,)`` wanted quality shares (the curriculum's ``p_q``, summing to 1).

    Alternates scaling every quality column to its target and every cell row to its share, at most
    :data:`MAX_SWEEPS` times, until the quality margins are within :data:`TOLERANCE`; it ends on the
    row scaling, so the cells' shares hold exactly even when the target is infeasible.
    """
    table = np.asarray(seed, dtype=np.float64).copy()
    share = np.asarray(cell_share, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    sweeps = 0
    for sweeps in range(1, MAX_SWEEPS + 1):  # noqa: B007  (the count is reported)
        columns = table.sum(axis=0)
        table *= np.divide(target, columns, out=np.ones_like(columns), where=columns > 0)
        rows = table.sum(axis=1)
        table *= np.divide(share, rows, out=np.zeros_like(rows), where=rows > 0)[:, None]
        if np.abs(table.sum(axis=0) - target).max() <= TOLERANCE:
            break
    rows = table.sum(axis=1, keepdims=True)
    mix = np.divide(table, rows, out=np.zeros_like(table), where=rows > 0)
    return QualityFit(mix=mix, achieved=table.sum(axis=0), sweeps=sweeps)
