"""Rich renderings of results for the terminal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from admet_hpo.training.run import TrainingResult


def _fmt(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


#: Column headings of the metrics of :class:`~admet_hpo.training.metrics.TaskMetrics`, in its order.
_METRIC_HEADINGS = {"rmse": "RMSE", "mae": "MAE", "r2": "R²", "pearson_r": "r", "spearman_rho": "ρ"}


def training_summary(result: TrainingResult) -> Table:
    """Per-task validation and test RMSE / MAE / R² / Pearson r / Spearman ρ of the best checkpoint, with
    label counts, and a last row of their means over tasks (``val/mean_<metric>``, ``test/mean_<metric>``;
    the count columns hold the totals)."""
    from admet_hpo.training.metrics import METRIC_NAMES, task_means

    table = Table(
        title=f"best val_loss {result.best_val_loss:.4f} after {result.epochs_run} epochs",
        title_justify="left",
    )
    widest = max((len(task) for task in result.task_names), default=4)
    table.add_column("task", no_wrap=True, min_width=widest)
    for split in ("val", "test"):
        table.add_column(f"n {split}", justify="right")
        for name in METRIC_NAMES:
            table.add_column(f"{split} {_METRIC_HEADINGS[name]}", justify="right")
    for task in result.task_names:
        cells = [task]
        for metrics in (result.val_metrics.get(task), result.test_metrics.get(task)):
            if metrics is None:
                cells += ["0"] + ["–"] * len(METRIC_NAMES)
            else:
                cells += [str(metrics.n)] + [_fmt(getattr(metrics, name)) for name in METRIC_NAMES]
        table.add_row(*cells)
    means = ["mean over tasks"]
    for metrics in (result.val_metrics, result.test_metrics):
        means += [str(sum(m.n for m in metrics.values()))]
        means += [_fmt(value) for value in task_means(metrics).values()]
    table.add_section()
    table.add_row(*means, style="bold")
    return table


def bound_summary(result: TrainingResult) -> Table | None:
    """Per task with censored cells: how many ``<`` / ``>`` bounds validation and test hold and the share
    of predictions on the correct side; ``None`` when no task has a bound."""
    tasks = [
        task
        for task in result.task_names
        if any(b.n_lt + b.n_gt for b in (result.val_bounds.get(task), result.test_bounds.get(task)) if b)
    ]
    if not tasks:
        return None
    table = Table(title="censored labels: share of predictions on the correct side", title_justify="left")
    table.add_column("task", no_wrap=True)
    for column in ("val n <", "val n >", "val agreement", "test n <", "test n >", "test agreement"):
        table.add_column(column, justify="right")
    for task in tasks:
        cells = []
        for bounds in (result.val_bounds.get(task), result.test_bounds.get(task)):
            cells += (
                [str(bounds.n_lt), str(bounds.n_gt), _fmt(bounds.agreement)] if bounds else ["0", "0", "–"]
            )
        table.add_row(task, *cells)
    return table


def baseline_summary(best: FrozenTrial, baseline: FrozenTrial | None, direction: str) -> str:
    """One line: the baseline trial's study metric against the best trial's (or why there is none)."""
    from optuna.trial import TrialState

    if baseline is None:
        return (
            "no baseline trial (baseline: false in the study file, or the base training config is not a "
            "point of the search space: see hpo validate)"
        )
    if baseline.state != TrialState.COMPLETE or baseline.value is None or best.value is None:
        return f"baseline trial {baseline.number} (the base training config) is {baseline.state.name}"
    if baseline.number == best.number:
        return f"the baseline trial {baseline.number} (the base training config) is the best trial"
    gain = best.value - baseline.value if direction == "maximize" else baseline.value - best.value
    relative = f" ({gain / abs(baseline.value):+.1%})" if baseline.value else ""
    return (
        f"baseline trial {baseline.number} (the base training config): value {baseline.value:.6g}; "
        f"the best trial improves on it by {gain:.4g}{relative}"
    )


def _task_rows(test_metrics: Mapping[str, float | None]) -> list[str]:
    """``mean`` then the task names of stored test metrics (``test/<task>/<metric>`` keys)."""
    tasks = {key.removeprefix("test/").rsplit("/", 1)[0] for key in test_metrics if key.count("/") >= 2}
    return ["mean", *sorted(tasks)]


def baseline_table(best: FrozenTrial, baseline: FrozenTrial) -> Table:
    """Test metrics of the best and the baseline trial side by side, their task means first."""
    from admet_hpo.tracking.keys import TEST_METRICS_ATTR
    from admet_hpo.training.metrics import METRIC_NAMES

    ours = best.user_attrs.get(TEST_METRICS_ATTR, {})
    theirs = baseline.user_attrs.get(TEST_METRICS_ATTR, {})
    title = f"test metrics: best trial {best.number} / baseline trial {baseline.number}"
    table = Table(title=title, title_justify="left")
    table.add_column("task", no_wrap=True)
    for name in METRIC_NAMES:
        table.add_column(f"{_METRIC_HEADINGS[name]} best", justify="right")
        table.add_column(f"{_METRIC_HEADINGS[name]} base", justify="right")
    for task in _task_rows({**theirs, **ours}):
        cells = [task]
        for name in METRIC_NAMES:
            key = f"test/mean_{name}" if task == "mean" else f"test/{task}/{name}"
            cells += [_fmt(ours.get(key)), _fmt(theirs.get(key))]
        table.add_row(*cells, style="bold" if task == "mean" else None)
    return table
