"""weight_statistics (SPEC 2.6) agrees with an independent computation; metrics are flat and named."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from admet_hpo.sampling import weight_statistics

weights = arrays(np.float64, st.integers(1, 60), elements=st.floats(0.0, 100.0)).filter(lambda w: w.sum() > 0)


@settings(max_examples=80, deadline=None)
@given(weights, st.integers(0, 10_000))
def test_statistics_match_an_independent_computation(w: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    task, quality, experiment = (
        rng.integers(-1, 3, w.size),
        rng.integers(0, 2, w.size),
        rng.integers(0, 4, w.size),
    )
    s = weight_statistics(
        w, task, quality, experiment, task_names=["a", "b", "c"], quality_names=["hi", "lo"]
    )
    p = w / w.sum()
    assert s.n == w.size
    assert s.min == pytest.approx(p.min()) and s.max == pytest.approx(p.max())
    assert s.entropy == pytest.approx(stats.entropy(p), abs=1e-12)
    assert s.normalized_entropy == pytest.approx(stats.entropy(p) / math.log(w.size) if w.size > 1 else 1.0)
    assert s.ess == pytest.approx(1.0 / sum(x * x for x in p))
    assert s.ess_fraction == pytest.approx(s.ess / w.size)
    for code, name in enumerate(["a", "b", "c"]):
        assert s.task_shares[name] == pytest.approx(
            sum(pi for pi, t in zip(p, task, strict=True) if t == code)
        )
    assert set(s.quality_shares) == {"hi", "lo"}
    assert s.experiment_shares == pytest.approx(
        {str(e): float(p[experiment == e].sum()) for e in range(int(experiment.max()) + 1)}
    )


def test_uniform_distribution_has_full_entropy_and_ess() -> None:
    s = weight_statistics(np.ones(8))
    assert s.normalized_entropy == pytest.approx(1.0)
    assert s.ess == pytest.approx(8.0) and s.ess_fraction == pytest.approx(1.0)
    assert s.task_shares == {} and s.quality_shares == {}


def test_as_metrics_is_flat_with_safe_names() -> None:
    s = weight_statistics(np.array([1.0, 3.0]), np.array([0, 1]), task_names=["LOG HLM (mL/min/kg)", "b"])
    metrics = s.as_metrics("sampler/")
    assert metrics["sampler/ess"] == pytest.approx(1 / (0.25**2 + 0.75**2))
    assert metrics["sampler/share_task/LOG HLM _mL/min/kg_"] == pytest.approx(0.25)
    assert all(isinstance(v, float) for v in metrics.values())


@pytest.mark.parametrize(
    "bad", [np.array([]), np.array([0.0, 0.0]), np.array([1.0, -1.0]), np.array([np.inf])]
)
def test_invalid_probabilities_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="probabilities must be"):
        weight_statistics(bad)


def test_label_shares_and_targets_are_reported_and_checked() -> None:
    labels = np.array([[True, False], [True, True], [False, True]])
    s = weight_statistics(
        np.array([1.0, 1.0, 2.0]),
        task_names=["a", "b"],
        task_labels=labels,
        quality=np.array([0, 1, 1]),
        quality_names=["hi", "lo"],
        quality_targets=[0.7, 0.3],
    )
    assert s.task_label_shares == pytest.approx({"a": 0.5, "b": 0.75})
    assert s.quality_targets == pytest.approx({"hi": 0.7, "lo": 0.3})
    assert s.quality_shares == pytest.approx({"hi": 0.25, "lo": 0.75})
    metrics = s.as_metrics("m/")
    assert metrics["m/share_task_label/b"] == pytest.approx(0.75)
    assert metrics["m/share_quality_target/hi"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match=r"task_labels has shape \(3,\), expected \(3, T\)"):
        weight_statistics(np.ones(3), task_labels=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="2 values for 3 names"):
        weight_statistics(np.ones(3), quality_names=["a", "b", "c"], quality_targets=[0.5, 0.5])
