"""Per-task regression metrics on sparse targets (NaN = missing label), in the targets' own units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPREAD_RTOL = 1e-12


@dataclass(frozen=True)
class TaskMetrics:
    """Metrics of one task over its labelled rows; NaN when the task has no (or one, for R^2) label."""

    n: int
    rmse: float
    mae: float
    r2: float


def per_task_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    task_names: tuple[str, ...],
    censoring: np.ndarray | None = None,
) -> dict[str, TaskMetrics]:
    """RMSE, MAE and R^2 per task, each over the rows where that task has an exact label.

    ``y_true`` and ``y_pred`` are ``(rows, tasks)``; NaN in ``y_true`` marks a missing label; a non-zero
    ``censoring`` code (same shape) marks a bound, which is left out (see ``bound_metrics``). R^2 is
    ``1 - SS_res / SS_tot`` and is NaN when the labelled values have no spread (``SS_tot`` below
    ``SPREAD_RTOL`` times their sum of squares, i.e. equal up to rounding).
    """
    if y_true.shape != y_pred.shape or y_true.shape[1] != len(task_names):
        raise ValueError(
            f"shape mismatch: y_true {y_true.shape}, y_pred {y_pred.shape}, {len(task_names)} tasks"
        )
    if censoring is not None:
        y_true = np.where(censoring != 0, np.nan, y_true)
    mask = np.isfinite(y_true)
    counts = mask.sum(axis=0)
    residual = np.where(mask, y_pred - np.nan_to_num(y_true), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = (residual**2).sum(axis=0) / counts
        mae = np.abs(residual).sum(axis=0) / counts
        mean = np.where(mask, y_true, 0.0).sum(axis=0) / counts
        ss_tot = (np.where(mask, y_true - mean, 0.0) ** 2).sum(axis=0)
        no_spread = ss_tot <= SPREAD_RTOL * (np.where(mask, y_true, 0.0) ** 2).sum(axis=0)
        r2 = np.where(no_spread, np.nan, 1.0 - (residual**2).sum(axis=0) / ss_tot)
    return {
        name: TaskMetrics(n=int(counts[t]), rmse=float(np.sqrt(mse[t])), mae=float(mae[t]), r2=float(r2[t]))
        for t, name in enumerate(task_names)
    }


def flatten_task_metrics(metrics: dict[str, TaskMetrics], prefix: str) -> dict[str, float]:
    """``{f"{prefix}/{task}/rmse": ..., ...}`` plus task-mean ``{prefix}/mean_rmse`` etc. (NaN-skipping)."""
    flat: dict[str, float] = {}
    for task, values in metrics.items():
        for name in ("rmse", "mae", "r2"):
            flat[f"{prefix}/{task}/{name}"] = getattr(values, name)
    for name in ("rmse", "mae", "r2"):
        column = np.array([getattr(v, name) for v in metrics.values()], dtype=float)
        finite = column[np.isfinite(column)]
        flat[f"{prefix}/mean_{name}"] = float(finite.mean()) if finite.size else float("nan")
    return flat
