"""Bound agreement: how often predictions fall on the correct side of censored labels (< / > bounds).

A ``<c`` cell agrees when the prediction is at most ``c``, a ``>c`` cell when it is at least ``c`` (the
bounded loss is zero exactly there). The excess is the graded counterpart: how far a prediction lies on
the wrong side of its bound (0 on the right side), averaged over the task's bounds. Both are computed
per task, in the targets' own units, next to the regression metrics, which skip censored cells
(``per_task_metrics(..., censoring=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoundAgreement:
    """One task's censored cells: counts of ``<`` and ``>`` bounds, the share of each (and of all) with
    the prediction on the correct side, and the mean wrong-side distance over all of them (target units);
    NaN where there is no such bound."""

    n_lt: int
    n_gt: int
    lt_agreement: float
    gt_agreement: float
    agreement: float
    excess: float


def _share(hits: np.ndarray, cells: np.ndarray) -> np.ndarray:
    counts = cells.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (hits & cells).sum(axis=0) / counts, np.nan)


def bound_agreement(
    y_true: np.ndarray, y_pred: np.ndarray, censoring: np.ndarray, task_names: tuple[str, ...]
) -> dict[str, BoundAgreement]:
    """Per task, the bound agreement over its censored cells (``censoring`` -1 = ``<``, +1 = ``>``; NaN in
    ``y_true`` = missing). Arrays are ``(rows, tasks)``."""
    if not (y_true.shape == y_pred.shape == censoring.shape) or y_true.shape[1] != len(task_names):
        raise ValueError(
            f"shape mismatch: y_true {y_true.shape}, y_pred {y_pred.shape}, censoring {censoring.shape}, "
            f"{len(task_names)} tasks"
        )
    labelled = np.isfinite(y_true)
    below, above = labelled & (censoring < 0), labelled & (censoring > 0)
    bound = np.nan_to_num(y_true)
    lt_hits, gt_hits = y_pred <= bound, y_pred >= bound
    lt_share, gt_share = _share(lt_hits, below), _share(gt_hits, above)
    pooled = _share((below & lt_hits) | (above & gt_hits), below | above)
    wrong_side = np.where(below, np.maximum(y_pred - bound, 0), 0) + np.where(
        above, np.maximum(bound - y_pred, 0), 0
    )
    n_bounds = (below | above).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(n_bounds > 0, wrong_side.sum(axis=0) / n_bounds, np.nan)
    return {
        name: BoundAgreement(
            n_lt=int(below[:, t].sum()),
            n_gt=int(above[:, t].sum()),
            lt_agreement=float(lt_share[t]),
            gt_agreement=float(gt_share[t]),
            agreement=float(pooled[t]),
            excess=float(excess[t]),
        )
        for t, name in enumerate(task_names)
    }


def flatten_bound_agreement(agreement: dict[str, BoundAgreement], prefix: str) -> dict[str, float]:
    """``{f"{prefix}/{task}/bound_agreement": ...}`` for tasks with bounds, plus the task mean
    ``{prefix}/mean_bound_agreement`` (absent when no task has a bound)."""
    flat = {
        f"{prefix}/{task}/bound_agreement": values.agreement
        for task, values in agreement.items()
        if values.n_lt + values.n_gt
    }
    if flat:
        flat[f"{prefix}/mean_bound_agreement"] = float(np.mean(list(flat.values())))
    return flat
