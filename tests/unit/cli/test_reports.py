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


def frozen(number: int, value: float | None, state=None, **test_metrics: float | None):
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from admet_hpo.tracking.keys import TEST_METRICS_ATTR

    trial = create_trial(
        state=state or TrialState.COMPLETE,
        value=value,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={TEST_METRICS_ATTR: {k.replace("__", "/"): v for k, v in test_metrics.items()}},
    )
    trial.number = number
    return trial


def test_best_against_baseline_line_and_side_by_side_test_table() -> None:
    from optuna.trial import TrialState

    from admet_hpo.cli.reports import baseline_summary, baseline_table

    best = frozen(4, 0.6, test__mean_mae=0.3, test__logD__mae=0.3, test__logD__pearson_r=0.8)
    baseline = frozen(0, 0.5, test__mean_mae=0.4, test__logD__mae=0.4, test__logD__pearson_r=None)
    line = baseline_summary(best, baseline, "maximize")
    assert line == (
        "baseline trial 0 (the base training config): value 0.5; "
        "the best trial improves on it by 0.1 (+20.0%)"
    )
    assert "improves on it by 0.1 (+20.0%)" in baseline_summary(frozen(4, 0.4), baseline, "minimize")
    assert baseline_summary(baseline, baseline, "maximize").startswith("the baseline trial 0 (the base")
    pruned = frozen(0, None, TrialState.PRUNED)
    assert baseline_summary(best, pruned, "maximize").endswith("is PRUNED")
    assert baseline_summary(best, None, "maximize").startswith("no baseline trial (baseline: false")
    console = Console(width=300, record=True)
    console.print(baseline_table(best, baseline))
    text = console.export_text()
    assert "test metrics: best trial 4 / baseline trial 0" in text
    rows = {line.split("│")[1].strip(): line.split("│")[2:-1] for line in text.splitlines() if "│" in line}
    assert list(rows) == ["mean", "logD"]
    assert [cell.strip() for cell in rows["logD"][2:4]] == ["0.300", "0.400"]  # MAE best, base
    assert [cell.strip() for cell in rows["logD"][6:8]] == ["0.800", "–"]  # r best, base (missing)
