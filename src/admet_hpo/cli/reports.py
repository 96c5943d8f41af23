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
    label counts."""
    from admet_hpo.training.metrics import METRIC_NAMES

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
    return table
