"""The `hpo train` table: every field metric per task and its mean over tasks, as numpy/scipy compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from scipy import stats

from admet_hpo.cli.reports import training_summary
from admet_hpo.training.metrics import per_task_metrics
from admet_hpo.training.run import TrainingResult


def test_table_has_per_task_field_metrics_and_their_means_over_tasks() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(40, 2))
    y[:15, 1] = np.nan
    predicted = y + rng.normal(scale=0.5, size=y.shape)
    metrics = per_task_metrics(y, np.nan_to_num(predicted), ("a", "b"))
    result = TrainingResult(
        best_val_loss=0.5,
        epochs_run=3,
        history=[],
        val_metrics=metrics,
        test_metrics=metrics,
        checkpoint_path=Path("best.ckpt"),
        model_path=Path("best.pt"),
        data_hash="d",
        split_hash="s",
        task_names=("a", "b"),
    )
    console = Console(width=400, record=True)
    console.print(training_summary(result))
    rows = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if "│" in line}
    mean_row = [cell.strip() for cell in rows["mean over tasks"].split("│")[2:-1]]
    labelled = [~np.isnan(y[:, t]) for t in range(2)]
    pearson = np.mean([stats.pearsonr(y[m, t], predicted[m, t]).statistic for t, m in enumerate(labelled)])
    spearman = np.mean([stats.spearmanr(y[m, t], predicted[m, t]).statistic for t, m in enumerate(labelled)])
    mae = np.mean([np.abs(y[m, t] - predicted[m, t]).mean() for t, m in enumerate(labelled)])
    assert mean_row[0] == "65"  # 40 + 25 labels
    assert mean_row[2] == f"{mae:.3f}"
    assert mean_row[4] == f"{pearson:.3f}" and mean_row[5] == f"{spearman:.3f}"
    assert rows["b"].split("│")[2].strip() == "25"
