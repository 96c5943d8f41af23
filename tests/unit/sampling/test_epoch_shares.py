"""Curriculum shares are epoch-level targets under every batch mode (SPEC 2.7.1), and the statistics
report the shares actually drawn (configured next to achieved), per task both primary and label shares
(SPEC 2.7.5)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.sampling import (
    CurriculumState,
    FlexibleBatchSampler,
    JointWeighting,
    QualityShareWarning,
    SmallCellWarning,
)

from .synthetic import QUALITIES, Split, skewed_split

MODES = {
    "off": {},
    "experiment_aware": {"experiment_aware": True},
    "condition_balanced": {"condition_balanced": True},
    "experiment_and_condition": {"experiment_aware": True, "condition_balanced": True},
    "leaky": {"experiment_aware": True, "condition_balanced": True, "leaky": 0.3},
}
EPOCHS = 12


@pytest.fixture(scope="module")
def skewed() -> Split:
    return skewed_split()


def sampler_for(
    split: Split, mode: str, phase: int = 0, alpha: float | None = 0.5, seed: int = 0, batch_size: int = 32
) -> FlexibleBatchSampler:
    curriculum = CurriculumState(QUALITIES, patience=1)
    for epoch in range(phase + 1):
        curriculum.update(epoch, 1.0)
    weighting = JointWeighting(split.targets, task_alpha=alpha, quality=split.quality, curriculum=curriculum)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCellWarning)
        return FlexibleBatchSampler(
            weighting,
            batch_size,
            experiment=split.experiment,
            condition=split.condition,
            seed=seed,
            **MODES[mode],
        )


def drawn_rows(sampler: FlexibleBatchSampler, epochs: int = EPOCHS) -> np.ndarray:
    return np.concatenate([sampler.epoch_batches(epoch).ravel() for epoch in range(epochs)])


def assert_share(observed: np.ndarray, share: float, what: str) -> None:
    """z-test of a share of draws: within 4.5 binomial standard errors (the draws are low-variance, so
    their true spread is smaller: the bound is conservative)."""
    error = np.sqrt(max(share * (1 - share), 1e-12) / observed.size)
    assert abs(observed.mean() - share) <= 4.5 * error + 1e-12, (
        f"{what}: drawn {observed.mean():.4f}, expected {share:.4f} (+- {4.5 * error:.4f})"
    )


def unfitted_quality_shares(split: Split, sampler: FlexibleBatchSampler, rows: np.ndarray) -> np.ndarray:
    """The quality shares the epoch would have if the curriculum only weighted rows inside the cells
    (the first implementation): each cell's drawn slots times its quality mix under ``w_joint``."""
    w = sampler.weighting.row_weights()
    cell = np.char.add(split.experiment.astype(str), split.condition.astype(str))
    if not sampler.experiment_aware:
        cell = split.condition.astype(str)
    if not sampler.condition_balanced:
        cell = split.experiment.astype(str) if sampler.experiment_aware else np.full(len(w), "all")
    shares = np.zeros(len(QUALITIES))
    for name in np.unique(cell[rows]):
        members = cell == name
        slot_share = (cell[rows] == name).mean()
        shares += (
            slot_share
            * np.array([w[members & (split.quality == q)].sum() for q in QUALITIES])
            / w[members].sum()
        )
    return shares


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("phase", [0, 2])
def test_drawn_quality_shares_match_the_configured_shares_under_every_batch_mode(
    skewed: Split, mode: str, phase: int
) -> None:
    sampler = sampler_for(skewed, mode, phase)
    target = sampler.curriculum.probabilities
    stats = sampler.statistics()
    assert stats.quality_targets == pytest.approx(target)
    assert stats.quality_shares == pytest.approx(target, abs=1e-6)
    rows = drawn_rows(sampler)
    for q in QUALITIES:
        assert_share(skewed.quality[rows] == q, target[q], f"{mode}: quality {q}")
    if mode != "off" and phase == 0:  # warmup: every mode would drift with weights only inside cells
        drift = np.abs(unfitted_quality_shares(skewed, sampler, rows) - list(target.values())).max()
        assert drift > 0.02


@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.SmallCellWarning")
@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(list(MODES)), st.integers(0, 3), st.sampled_from([None, 0.0, 1.0]), st.integers(0, 999)
)
def test_reported_shares_equal_the_drawn_shares(
    mode: str, phase: int, alpha: float | None, seed: int
) -> None:
    split = skewed_split(n=1500, seed=seed)
    sampler = sampler_for(split, mode, phase, alpha=alpha, seed=seed, batch_size=24)
    stats = sampler.statistics()
    rows = drawn_rows(sampler, epochs=8)
    for name, share in stats.quality_shares.items():
        assert_share(split.quality[rows] == name, share, f"quality {name}")
    for name, share in stats.experiment_shares.items():
        assert_share(split.experiment[rows] == name, share, f"experiment {name}")
    weighting = sampler.weighting
    for t, name in enumerate(weighting.task_names):
        assert_share(weighting.primary[rows] == t, stats.task_shares[name], f"primary task {name}")
        assert_share(weighting.label_mask[rows, t], stats.task_label_shares[name], f"labels of task {name}")


def test_label_shares_count_every_label_a_draw_carries(skewed: Split) -> None:
    stats = sampler_for(skewed, "off", alpha=None).statistics()
    p = sampler_for(skewed, "off", alpha=None).probabilities()
    labels = ~np.isnan(skewed.targets)
    expected = {str(t): float(p @ labels[:, t]) for t in range(4)}
    assert stats.task_label_shares == pytest.approx(expected, rel=1e-12)
    # A draw carrying the common task's label usually has a rarer primary task too.
    assert stats.task_label_shares["0"] > stats.task_shares["0"] + 0.05
    assert sum(stats.task_label_shares.values()) > 1.0
    metrics = stats.as_metrics("sampler/")
    assert metrics["sampler/share_task_label/0"] == pytest.approx(expected["0"])
    assert metrics["sampler/share_quality_target/high"] == pytest.approx(0.8)
    assert metrics["sampler/share_quality/high"] == pytest.approx(0.8)


def test_without_count_normalisation_there_is_no_share_target(skewed: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1, count_normalize=False)
    weighting = JointWeighting(skewed.targets, quality=skewed.quality, curriculum=curriculum)
    sampler = FlexibleBatchSampler(weighting, 32, experiment=skewed.experiment, experiment_aware=True, seed=0)
    stats = sampler.statistics()
    assert stats.quality_targets == {}
    rows = drawn_rows(sampler, epochs=6)
    w = weighting.row_weights()
    experiment_share = {e: (skewed.experiment[rows] == e).mean() for e in "ABCD"}
    # Inside each experiment rows weigh p_q: the old per-row meaning, no fitting.
    high = sum(
        experiment_share[e]
        * w[(skewed.experiment == e) & (skewed.quality == "high")].sum()
        / w[skewed.experiment == e].sum()
        for e in "ABCD"
    )
    assert_share(skewed.quality[rows] == "high", high, "high without count_normalize")


def infeasible_split() -> Split:
    """Experiment D (40% of the rows) has only high rows: high can never fall below 0.4."""
    split = skewed_split(n=2000, seed=4)
    quality = split.quality.copy()
    experiment = np.where(np.arange(2000) < 800, "D", split.experiment).astype(object)
    quality[experiment == "D"] = "high"
    return Split(split.targets, quality, experiment, split.condition)


def test_infeasible_targets_draw_the_closest_shares_and_warn_once_per_phase_naming_the_cells() -> None:
    split = infeasible_split()
    curriculum = CurriculumState(
        QUALITIES, patience=1, phase_weights={"warmup": [0.2, 0.4, 0.4], "expand": [0.1, 0.45, 0.45]}
    )
    weighting = JointWeighting(split.targets, quality=split.quality, curriculum=curriculum)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = FlexibleBatchSampler(
            weighting, 32, experiment=split.experiment, experiment_aware=True, seed=0
        )
        stats = sampler.statistics()
        rows = drawn_rows(sampler, epochs=5)
    found = [w for w in caught if issubclass(w.category, QualityShareWarning)]
    assert len(found) == 1
    message = str(found[0].message)
    assert "curriculum phase 'warmup'" in message and "high 0.200 -> " in message
    assert "'high' is in excess: cells with only 'high' rows" in message and "experiment 'D'" in message
    assert "'medium' is short: cells without 'medium' rows" in message
    assert "'low' is short" in message and "'low' is in excess" not in message
    d_share = (split.experiment[rows] == "D").mean()
    assert stats.quality_shares["high"] == pytest.approx(stats.experiment_shares["D"], abs=1e-3)
    assert stats.quality_targets["high"] == pytest.approx(0.2)
    assert_share(split.quality[rows] == "high", stats.quality_shares["high"], "high")
    assert d_share > 0.35
    # Medium and low split the rest in their configured ratio 1:1.
    assert stats.quality_shares["medium"] == pytest.approx(stats.quality_shares["low"], rel=1e-3)
    curriculum.update(0, 1.0)
    curriculum.update(1, 1.0)  # expand: a new phase, infeasible too, warns once more
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        sampler.statistics()
        sampler.epoch_batches(2)
    assert [str(w.message)[:25] for w in later if issubclass(w.category, QualityShareWarning)] == [
        "curriculum phase 'expand'"
    ]
