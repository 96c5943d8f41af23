"""Per-task regression metrics on sparse targets (NaN = missing label), in the targets' own units.

The metrics are those ADMET papers and challenges compare: RMSE, MAE, R^2, Pearson r and Spearman rho,
each per task over the rows that task is labelled on, plus their means over tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import rankdata

SPREAD_RTOL = 1e-12


@dataclass(frozen=True)
class TaskMetrics:
    """Metrics of one task over its labelled rows.

    NaN when the task has no label; R^2, Pearson r and Spearman rho are NaN too when the labels have no
    spread (or, for the correlations, the predictions have none), or there are fewer than two labels.
    """

    n: int
    rmse: float
    mae: float
    r2: float
    pearson_r: float
    spearman_rho: float


#: The metric names of :class:`TaskMetrics` (everything but the count), in report order.
METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TaskMetrics) if f.name != "n")


def _no_spread(values: np.ndarray) -> bool:
    """Equal up to rounding: the sum of squared deviations is tiny against the sum of squares."""
    return bool(((values - values.mean()) ** 2).sum() <= SPREAD_RTOL * max((values**2).sum(), 1e-300))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or _no_spread(x) or _no_spread(y):
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.clip((dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum()), -1.0, 1.0))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of the ranks; NaN under the same no-spread rule as Pearson r (values equal up to
    rounding have ranks that order rounding noise)."""
    if x.size < 2 or _no_spread(x) or _no_spread(y):
        return float("nan")
    return _pearson(rankdata(x), rankdata(y))


def task_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> TaskMetrics:
    """The metrics of one task from its labelled values and their predictions (1-D, same length).

    R^2 is ``1 - SS_res / SS_tot``; Pearson r the correlation of the values; Spearman rho the Pearson r
    of their ranks (ties get average ranks).
    """
    n = int(y_true.size)
    if n == 0:
        nan = float("nan")
        return TaskMetrics(0, nan, nan, nan, nan, nan)
    residual = y_pred - y_true
    ss_res = float((residual**2).sum())
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = float("nan") if _no_spread(y_true) else 1.0 - ss_res / ss_tot
    return TaskMetrics(
        n=n,
        rmse=float(np.sqrt(ss_res / n)),
        mae=float(np.abs(residual).mean()),
        r2=r2,
        pearson_r=_pearson(y_true, y_pred),
        spearman_rho=_spearman(y_true, y_pred),
    )


def per_task_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    task_names: tuple[str, ...],
    censoring: np.ndarray | None = None,
) -> dict[str, TaskMetrics]:
    """:func:`task_metrics` per task, each over the rows where that task has an exact label.

    ``y_true`` and ``y_pred`` are ``(rows, tasks)``; NaN in ``y_true`` marks a missing label; a non-zero
    ``censoring`` code (same shape) marks a bound, which is left out (see ``bound_metrics``).
    """
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or y_true.shape[1] != len(task_names):
        raise ValueError(
            f"shape mismatch: y_true {y_true.shape}, y_pred {y_pred.shape}, {len(task_names)} tasks"
        )
    if censoring is not None:
        y_true = np.where(censoring != 0, np.nan, y_true)
    labelled = np.isfinite(y_true)
    return {
        name: task_metrics(y_true[labelled[:, t], t], y_pred[labelled[:, t], t])
        for t, name in enumerate(task_names)
    }


def flatten_task_metrics(metrics: dict[str, TaskMetrics], prefix: str) -> dict[str, float]:
    """``{f"{prefix}/{task}/rmse": ..., ...}`` for every metric, plus the task means
    ``{prefix}/mean_rmse`` ... ``{prefix}/mean_spearman_rho`` over the tasks where it is finite."""
    flat: dict[str, float] = {}
    for task, values in metrics.items():
        for name in METRIC_NAMES:
            flat[f"{prefix}/{task}/{name}"] = getattr(values, name)
    flat |= {f"{prefix}/mean_{name}": value for name, value in task_means(metrics).items()}
    return flat


def task_means(metrics: dict[str, TaskMetrics]) -> dict[str, float]:
    """``{"rmse": ..., "pearson_r": ...}``: each metric's mean over the tasks where it is finite (NaN when
    it is finite for none)."""
    means = {}
    for name in METRIC_NAMES:
        column = np.array([getattr(v, name) for v in metrics.values()], dtype=float)
        finite = column[np.isfinite(column)]
        means[name] = float(finite.mean()) if finite.size else float("nan")
    return means


#: Whether a higher value of each metric is better (``True``) or a lower one (``False``).
HIGHER_IS_BETTER: dict[str, bool] = {
    "rmse": False,
    "mae": False,
    "r2": True,
    "pearson_r": True,
    "spearman_rho": True,
}

#: The study metric that needs no task name: the validation loss on standardised targets.
VAL_LOSS = "val_loss"


def study_metric_names(task_names: tuple[str, ...]) -> list[str]:
    """Every epoch metric a study can optimise (and prune on): ``val_loss``, the validation task means
    ``val/mean_<metric>`` and the per-task ``val/<task>/<metric>`` of ``task_names``, in report order."""
    names = [VAL_LOSS, *(f"val/mean_{name}" for name in METRIC_NAMES)]
    return names + [f"val/{task}/{name}" for task in task_names for name in METRIC_NAMES]


def study_metric_problem(metric: str, direction: str, task_names: tuple[str, ...]) -> tuple[str, str] | None:
    """Why ``metric`` with ``direction`` cannot be a study's objective, as ``(key, message)`` with
    ``key`` the study-file key at fault (``metric`` or ``direction``); None when it can.

    A name that is not in :func:`study_metric_names` is refused with the valid forms and the closest
    valid name; a test metric is refused (the test split is kept for the final report); a direction
    against the metric's sense (``minimize`` of a correlation, ``maximize`` of an error) is refused.
    """
    import difflib

    names = study_metric_names(task_names)
    if metric not in names:
        if metric.startswith("test/"):
            return "metric", (
                f"{metric!r} is a test metric; a study optimises a validation metric (the test split is "
                f"only for the final report): use {'val/' + metric.removeprefix('test/')!r}"
            )
        close = difflib.get_close_matches(metric, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        tasks = ", ".join(task_names) or "the data's target columns"
        return "metric", (
            f"unknown study metric {metric!r}{hint}; expected val_loss, val/mean_<metric> or "
            f"val/<task>/<metric> with <metric> one of {', '.join(METRIC_NAMES)} and <task> one of {tasks}"
        )
    higher = metric != VAL_LOSS and HIGHER_IS_BETTER[metric.rsplit("/", 1)[-1].removeprefix("mean_")]
    expected = "maximize" if higher else "minimize"
    if direction != expected:
        sense = "higher" if higher else "lower"
        return "direction", f"{metric!r} is better when {sense}: use direction: {expected}"
    return None
