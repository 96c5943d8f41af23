"""Rich renderings of results for the terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from admet_hpo.training.run import TrainingResult


def _fmt(value: float) -> str:
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
