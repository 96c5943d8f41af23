"""Held-out test evaluation: per-task RMSE, MAE, R^2, Pearson r, Spearman rho of a model, and their spread.

Predictions come from the saved best model (``TrainingResult.model_path``, loaded with chemprop's
``MPNN.load_from_file``) on the labelled rows of the test split, scored by the product's
``per_task_metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from admet_hpo.data.table import MoleculeTable, SplitIndices
    from admet_hpo.training.metrics import TaskMetrics

METRICS = ("rmse", "mae", "r2", "pearson_r", "spearman_rho")
LOWER_IS_BETTER = {"rmse": True, "mae": True, "r2": False, "pearson_r": False, "spearman_rho": False}


@dataclass(frozen=True)
class TaskScore:
    """One model's test metrics on one task."""

    task: str
    n: int
    rmse: float
    mae: float
    r2: float
    pearson_r: float
    spearman_rho: float = math.nan  # absent from records saved before it was scored


def scores_from_metrics(metrics: Mapping[str, TaskMetrics]) -> list[TaskScore]:
    """Per-task scores from the product's metrics (e.g. ``TrainingResult.test_metrics``), in task order."""
    return [
        TaskScore(task, m.n, m.rmse, m.mae, m.r2, m.pearson_r, m.spearman_rho) for task, m in metrics.items()
    ]


def score_predictions(y_true: np.ndarray, y_pred: np.ndarray, task_names: Sequence[str]) -> list[TaskScore]:
    """Per-task scores of predictions ``(rows, tasks)`` against sparse targets (NaN = no label)."""
    from admet_hpo.training.metrics import per_task_metrics

    return scores_from_metrics(per_task_metrics(y_true, y_pred, tuple(task_names)))


def predict_test_split(
    model_path: Path, table: MoleculeTable, split: SplitIndices
) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, predictions)`` of the saved model on the labelled test rows, in original units."""
    from chemprop.models import MPNN

    from admet_hpo.data.datasets import build_molecule_dataset
    from admet_hpo.data.featurize import FeatureCache
    from admet_hpo.training.prediction import evaluation_loader, predict
    from admet_hpo.training.run import labelled_rows

    rows = labelled_rows(table, split.test)
    model = MPNN.load_from_file(model_path, map_location="cpu")
    dataset = build_molecule_dataset(table, rows, FeatureCache())
    return table.targets[rows], predict(model, evaluation_loader(dataset, 256))


def task_mean(scores: Iterable[TaskScore], metric: str, tasks: Sequence[str] | None = None) -> float:
    """Mean of ``metric`` over ``tasks`` (default all), skipping NaN values."""
    values = [getattr(s, metric) for s in scores if tasks is None or s.task in tasks]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (sd NaN for fewer than two)."""
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return math.nan, math.nan
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else math.nan


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    """Whether the intervals mean ± sd of ``a`` and ``b`` overlap (None when a spread is unknown)."""
    if math.isnan(a[1]) or math.isnan(b[1]):
        return None
    return abs(a[0] - b[0]) <= a[1] + b[1]


def _pm(pair: tuple[float, float]) -> str:
    mean, sd = pair
    return f"{mean:.3f} ± {'n/a' if math.isnan(sd) else format(sd, '.3f')}"


_OVERLAP_WORDS = {
    True: "the mean ± sd intervals overlap: no difference at this budget",
    False: "the mean ± sd intervals do not overlap",
    None: "one seed only, so no spread to judge the difference by",
}


def verdict(summary: dict[str, tuple[float, float]], metric: str, what: str, focus: Sequence[str]) -> str:
    """A plain statement of which arm is best on ``what`` and by how much.

    ``summary`` maps arm -> (mean, sd) over seeds. The best arm is compared with the runner-up and with
    every arm of ``focus`` (e.g. the baseline and the full joint sampler): the gap, the relative gap,
    and whether the mean ± sd intervals overlap ("no difference" when they do).
    """
    lower = LOWER_IS_BETTER[metric]
    ranked = sorted(
        (arm for arm in summary if math.isfinite(summary[arm][0])),
        key=lambda arm: summary[arm][0] if lower else -summary[arm][0],
    )
    if not ranked:
        raise ValueError(f"no arm has a finite {metric}")
    best = ranked[0]
    parts = [f"On {what}, **{best}** is best ({_pm(summary[best])})."]
    labels: dict[str, list[str]] = {}
    if len(ranked) > 1:
        labels[ranked[1]] = ["runner-up"]
    for arm in focus:
        if arm in summary and arm != best:
            labels.setdefault(arm, [])
    for arm, names in labels.items():
        mean, sd = summary[arm]
        gain = (mean - summary[best][0]) if lower else (summary[best][0] - mean)
        relative = 100.0 * gain / abs(mean) if mean else math.nan
        label = " ".join([*names, arm])
        parts.append(
            f"Against {label} ({_pm((mean, sd))}) it is better by {gain:.3f} ({relative:.1f} %); "
            f"{_OVERLAP_WORDS[intervals_overlap(summary[best], (mean, sd))]}."
        )
    order = [f"{arm} {_pm(summary[arm])}" for arm in ranked]
    separated = [arm for arm in ranked[1:] if intervals_overlap(summary[best], summary[arm]) is False]
    parts.append(f"Order: {', '.join(order)}.")
    if separated:
        parts.append(f"Separated from the best (intervals do not overlap): {', '.join(separated)}.")
    return " ".join(parts)
