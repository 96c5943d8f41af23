"""Rich renderings of results for the terminal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from admet_hpo.training.run import TrainingResult


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def training_summary(result: TrainingResult) -> Table:
    """Per-task validation and test RMSE / MAE / R^2 of the best checkpoint, with label counts."""
    table = Table(
        title=f"best val_loss {result.best_val_loss:.4f} after {result.epochs_run} epochs",
        title_justify="left",
    )
    widest = max((len(task) for task in result.task_names), default=4)
    table.add_column("task", no_wrap=True, min_width=widest)
    for column in ("n val", "val RMSE", "val MAE", "val R²", "n test", "test RMSE", "test MAE", "test R²"):
        table.add_column(column, justify="right")
    for task in result.task_names:
        val = result.val_metrics[task]
        test = result.test_metrics.get(task)
        test_cells = (
            [str(test.n), _fmt(test.rmse), _fmt(test.mae), _fmt(test.r2)] if test else ["0", "–", "–", "–"]
        )
        table.add_row(task, str(val.n), _fmt(val.rmse), _fmt(val.mae), _fmt(val.r2), *test_cells)
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
