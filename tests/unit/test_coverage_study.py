"""The coverage study script: options, its independent-draws reference sampler, its report (no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import coverage_study  # noqa: E402
from admet_hpo.sampling import FlexibleBatchSampler, JointWeighting  # noqa: E402


def test_defaults_and_bad_sizes() -> None:
    args = coverage_study.parse_args([])
    assert (args.epochs, args.seeds, args.train_fraction, args.threads) == (5, 3, 0.2, 1)
    for argv in (["--epochs", "1"], ["--seeds", "0"], ["--train-fraction", "0"]):
        with pytest.raises(SystemExit):
            coverage_study.parse_args(argv)


def targets(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    values = np.where(rng.random((n, 3)) < [0.8, 0.2, 0.05], 1.0, np.nan)
    values[:3, :] = 1.0
    return values


def test_the_reference_draws_independently_with_replacement_by_the_same_probabilities() -> None:
    weighting = JointWeighting(targets(), task_alpha=0.0)
    product = FlexibleBatchSampler(weighting, 50, seed=3)
    reference = coverage_study.independent_draws(product)
    assert len(reference) == len(product)
    assert np.array_equal(reference.probabilities(), product.probabilities())
    first, again = reference.epoch_batches(1), reference.epoch_batches(1)
    assert first.shape == product.epoch_batches(1).shape and np.array_equal(first, again)
    labelled = int(weighting.labelled.sum())
    covered = np.unique(first).size / labelled
    # i.i.d. draws of ~N rows cover about 1 - 1/e of them; the product's epoch covers every drawn row once.
    assert covered == pytest.approx(1 - np.exp(-first.size / labelled), abs=0.03)
    assert np.unique(product.epoch_batches(1)).size == product.epoch_batches(1).size
    assert coverage_study.coverage(product, 2)[1] == 0.0
    assert coverage_study.coverage(reference, 2)[1] > 0.5


def test_the_reference_refuses_structured_batches() -> None:
    weighting = JointWeighting(targets())
    experiment = np.where(np.arange(2000) % 2, "a", "b").astype(object)
    sampler = FlexibleBatchSampler(weighting, 50, experiment=experiment, experiment_aware=True)
    with pytest.raises(ValueError, match="unstructured batches only"):
        coverage_study.independent_draws(sampler)


def test_report_compares_each_alpha_with_its_independent_reference() -> None:
    def row(arm: str, best: list[float], covered: float) -> dict:
        return {"arm": arm, "best": best, "last": best, "coverage": covered, "repeating": 0.1, "minutes": 1.0}

    rows = [
        row("uniform", [0.90, 0.91], 0.99),
        row("alpha 0", [0.90, 0.91], 0.99),
        row("alpha 0 i.i.d.", [0.95, 0.96], 0.63),
        row("alpha 0.5", [0.92, 0.93], 0.85),
        row("alpha 0.5 i.i.d.", [0.92, 0.94], 0.62),
    ]
    text = coverage_study.report(rows, "- settings")
    assert "| alpha 0 i.i.d. | 63.0% |" in text
    assert "alpha 0: low-variance draws cover 99.0%" in text and "+0.0500" in text
    assert "larger than twice the larger seed spread" in text
    assert "alpha 0.5: low-variance draws cover 85.0%" in text and "within twice" in text
