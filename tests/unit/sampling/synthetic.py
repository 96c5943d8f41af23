"""Synthetic sparse multi-task training splits (small, seeded) and chi-square helpers for sampler tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

QUALITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Split:
    """A training split: targets (NaN = missing) and per-row quality / experiment / condition labels."""

    targets: np.ndarray
    quality: np.ndarray
    experiment: np.ndarray
    condition: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        return ~np.isnan(self.targets).all(axis=1)


def make_split(
    n: int = 3000,
    label_rates: Sequence[float] = (0.6, 0.25, 0.08, 0.02),
    unlabelled: float = 0.05,
    quality_p: Sequence[float] = (0.15, 0.35, 0.5),
    experiments: Sequence[str] = ("A", "B", "C", "D"),
    experiment_p: Sequence[float] | None = (0.4, 0.3, 0.2, 0.1),
    conditions: Sequence[str] = ("human", "rat"),
    seed: int = 0,
) -> Split:
    """Rows label each task independently at ``label_rates``; a share ``unlabelled`` has no label."""
    rng = np.random.default_rng(seed)
    rates = np.asarray(label_rates)
    targets = np.where(rng.random((n, rates.size)) < rates, rng.normal(size=(n, rates.size)), np.nan)
    targets[rng.random(n) < unlabelled] = np.nan
    targets[np.arange(rates.size), np.arange(rates.size)] = 1.0  # every task has a label
    return Split(
        targets=targets,
        quality=rng.choice(np.array(QUALITIES), n, p=quality_p),
        experiment=rng.choice(np.array(experiments, dtype=object), n, p=experiment_p),
        condition=rng.choice(np.array(conditions, dtype=object), n),
    )


def assert_fits(observed: np.ndarray, expected_p: np.ndarray, alpha: float = 1e-3) -> None:
    """Chi-square goodness of fit of counts to probabilities (categories with p = 0 must be empty)."""
    observed = np.asarray(observed, dtype=np.float64)
    expected_p = np.asarray(expected_p, dtype=np.float64) / np.sum(expected_p)
    assert observed[expected_p == 0].sum() == 0, "draws fell on zero-probability categories"
    keep = expected_p > 0
    expected = expected_p[keep] * observed.sum()
    result = stats.chisquare(observed[keep], expected)
    assert result.pvalue > alpha, f"chi-square p={result.pvalue:.2e} (stat {result.statistic:.1f})"


def rejects(observed: np.ndarray, wrong_p: np.ndarray, alpha: float = 1e-3) -> bool:
    """True when the chi-square test rejects ``wrong_p``: the test has power to see a wrong answer."""
    wrong_p = np.asarray(wrong_p, dtype=np.float64) / np.sum(wrong_p)
    keep = wrong_p > 0
    return stats.chisquare(observed[keep], wrong_p[keep] * observed[keep].sum()).pvalue < alpha


def skewed_split(n: int = 4000, seed: int = 0) -> Split:
    """A split whose cells differ in quality mix and task rarity, as multi-source data do.

    Experiment A (45% of rows) is mostly low quality, B mostly high, C medium, D (5%) almost all high;
    the rare tasks are labelled mostly in the high-quality experiments, so task oversampling moves the
    quality shares too. Conditions human / rat / dog go with quality (dog rows are mostly high, human
    rows mostly low).
    """
    rng = np.random.default_rng(seed)
    experiment = rng.choice(np.array(["A", "B", "C", "D"], dtype=object), n, p=[0.45, 0.3, 0.2, 0.05])
    mixes = {"A": [0.1, 0.3, 0.6], "B": [0.7, 0.2, 0.1], "C": [0.2, 0.6, 0.2], "D": [0.94, 0.03, 0.03]}
    quality = np.empty(n, dtype="<U6")
    for name, mix in mixes.items():
        rows = experiment == name
        quality[rows] = rng.choice(np.array(QUALITIES), rows.sum(), p=mix)
    rare = np.isin(experiment, ["B", "D"])
    rates = np.where(rare[:, None], [0.5, 0.3, 0.2, 0.1], [0.7, 0.1, 0.02, 0.005])
    targets = np.where(rng.random((n, 4)) < rates, rng.normal(size=(n, 4)), np.nan)
    targets[rng.random(n) < 0.03] = np.nan
    targets[np.arange(4), np.arange(4)] = 1.0
    condition_p = {"high": [0.15, 0.25, 0.6], "medium": [0.5, 0.3, 0.2], "low": [0.75, 0.2, 0.05]}
    condition = np.empty(n, dtype=object)
    for name, p in condition_p.items():
        rows = quality == name
        condition[rows] = rng.choice(np.array(["human", "rat", "dog"], dtype=object), rows.sum(), p=p)
    return Split(targets=targets, quality=quality, experiment=experiment, condition=condition)
