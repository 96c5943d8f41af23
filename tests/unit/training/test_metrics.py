"""Per-task metrics on sparse targets agree with an independent per-task computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from admet_hpo.training.metrics import METRIC_NAMES, flatten_task_metrics, per_task_metrics


def has_spread(values: np.ndarray) -> bool:
    return values.size >= 2 and float(np.sum((values - values.mean()) ** 2)) > 1e-12 * float(
        np.sum(values**2)
    )


def reference(
    y_true: np.ndarray, y_pred: np.ndarray, task: int
) -> tuple[int, float, float, float, float, float]:
    """numpy / scipy on one task's labelled rows, written independently of the product's code."""
    mask = ~np.isnan(y_true[:, task])
    t, p = y_true[mask, task], y_pred[mask, task]
    if t.size == 0:
        return 0, math.nan, math.nan, math.nan, math.nan, math.nan
    rmse = math.sqrt(float(np.mean((t - p) ** 2)))
    mae = float(np.mean(np.abs(t - p)))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1 - float(np.sum((t - p) ** 2)) / ss_tot if has_spread(t) else math.nan
    correlated = has_spread(t) and has_spread(p)
    pearson = float(stats.pearsonr(t, p).statistic) if correlated else math.nan
    ranks_vary = correlated and np.unique(t).size > 1 and np.unique(p).size > 1
    spearman = float(stats.spearmanr(t, p).statistic) if ranks_vary else math.nan
    return int(t.size), rmse, mae, r2, pearson, spearman


# Label-like magnitudes: zero or 1e-6 <= |x| <= 100 (values near 1e-158 make both sides' no-spread
# tolerances underflow differently, which says nothing about metrics of real labels).
finite = st.one_of(st.just(0.0), st.floats(1e-6, 100), st.floats(-100, -1e-6))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (12, 3), elements=st.one_of(finite, st.just(np.nan))),
    arrays(np.float64, (12, 3), elements=finite),
)
def test_matches_independent_per_task_computation(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    metrics = per_task_metrics(y_true, y_pred, ("a", "b", "c"))
    for t, name in enumerate(("a", "b", "c")):
        n, *expected_values = reference(y_true, y_pred, t)
        got = metrics[name]
        assert got.n == n
        for metric, expected in zip(METRIC_NAMES, expected_values, strict=True):
            value = getattr(got, metric)
            assert (math.isnan(expected) and math.isnan(value)) or value == pytest.approx(
                expected, rel=1e-7, abs=1e-7
            ), metric


def test_perfect_predictions_score_zero_error_and_r2_one() -> None:
    y = np.array([[1.0, np.nan], [2.0, 5.0], [4.0, 7.0]])
    metrics = per_task_metrics(y, np.nan_to_num(y, nan=123.0), ("x", "y"))
    assert metrics["x"].rmse == 0.0 and metrics["x"].r2 == 1.0
    assert metrics["x"].pearson_r == pytest.approx(1.0) and metrics["x"].spearman_rho == pytest.approx(1.0)
    assert metrics["y"].n == 2 and metrics["y"].mae == 0.0


def test_spearman_is_rank_based_and_pearson_is_not() -> None:
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    monotone = np.array([[1.0], [2.0], [3.0], [1000.0]])  # same order, far from linear
    metrics = per_task_metrics(y, monotone, ("x",))["x"]
    assert metrics.spearman_rho == pytest.approx(1.0)
    assert metrics.pearson_r < 0.9


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        per_task_metrics(np.zeros((3, 2)), np.zeros((3, 3)), ("a", "b"))


def test_flatten_names_and_task_mean_skip_missing_tasks() -> None:
    y = np.array([[1.0, np.nan], [3.0, np.nan]])
    flat = flatten_task_metrics(per_task_metrics(y, np.array([[2.0, 0.0], [3.0, 0.0]]), ("a", "b")), "val")
    assert flat["val/a/mae"] == pytest.approx(0.5)
    assert math.isnan(flat["val/b/rmse"])
    assert flat["val/mean_mae"] == pytest.approx(0.5)
    assert set(flat) == {f"val/{t}/{m}" for t in "ab" for m in METRIC_NAMES} | {
        f"val/mean_{m}" for m in METRIC_NAMES
    }


def test_correlations_are_nan_when_predictions_differ_only_by_rounding() -> None:
    y = np.array([[1.0], [2.0], [3.0]])
    flat = np.array([[5.0], [5.0 + 1e-10], [5.0 + 2e-10]])  # distinct ranks, no real spread
    metrics = per_task_metrics(y, flat, ("x",))["x"]
    assert math.isnan(metrics.pearson_r) and math.isnan(metrics.spearman_rho)


def test_every_metric_has_a_sense_and_every_study_metric_a_direction() -> None:
    from admet_hpo.training.metrics import HIGHER_IS_BETTER, study_metric_names, study_metric_problem

    assert set(HIGHER_IS_BETTER) == set(METRIC_NAMES)
    names = study_metric_names(("a", "b/c"))
    assert names[:6] == ["val_loss", *(f"val/mean_{m}" for m in METRIC_NAMES)]
    assert len(names) == 6 + 2 * len(METRIC_NAMES)
    for name in names:
        good = [d for d in ("minimize", "maximize") if study_metric_problem(name, d, ("a", "b/c")) is None]
        assert len(good) == 1, name
