"""Low-variance epoch draws (SPEC 2.7.2): every row's epoch count is the floor or ceiling of N * p_i,
on average exactly N * p_i; alpha = 0 equals oversampling off; rows of a class share the draws evenly
inside batch cells too."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from admet_hpo.sampling import (
    CurriculumState,
    FlexibleBatchSampler,
    JointSampler,
    JointWeighting,
    SmallCellWarning,
)

from .synthetic import QUALITIES, Split, make_split, skewed_split


def weighting_for(split: Split, alpha: float | None, curriculum_phase: int | None) -> JointWeighting:
    curriculum = None
    if curriculum_phase is not None:
        curriculum = CurriculumState(QUALITIES, patience=1)
        for epoch in range(curriculum_phase + 1):
            curriculum.update(epoch, 1.0)
    return JointWeighting(split.targets, task_alpha=alpha, quality=split.quality, curriculum=curriculum)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.one_of(st.none(), st.sampled_from([0.0, 0.3, 0.5, 1.0, 1.6])),
    st.one_of(st.none(), st.integers(0, 3)),
    st.integers(0, 50),
    st.sampled_from([None, 97, 1234]),
)
def test_every_rows_epoch_count_is_within_one_of_its_expectation(
    seed: int, alpha: float | None, phase: int | None, epoch: int, num_samples: int | None
) -> None:
    split = make_split(n=400, unlabelled=0.1, seed=seed)
    weighting = weighting_for(split, alpha, phase)
    sampler = JointSampler(weighting, num_samples=num_samples, seed=seed)
    drawn = sampler.indices(epoch)
    counts = np.bincount(drawn, minlength=len(split.labelled))
    expected = len(sampler) * sampler.probabilities()
    assert drawn.size == len(sampler)
    assert np.all(np.abs(counts - expected) < 1 + 1e-9)
    assert counts[~split.labelled].sum() == 0


def test_epoch_counts_are_unbiased_over_epochs() -> None:
    split = make_split(n=300, seed=3)
    weighting = weighting_for(split, 0.7, 0)
    sampler = JointSampler(weighting, seed=5)
    epochs = 400
    counts = np.stack([np.bincount(sampler.indices(e), minlength=300) for e in range(epochs)])
    expected = len(sampler) * sampler.probabilities()
    fractional = (expected % 1 > 0.05) & (expected % 1 < 0.95)
    # Each count is floor(E) + Bernoulli(frac(E)); the mean over epochs is E within 4.5 standard errors.
    spread = np.sqrt((expected % 1) * (1 - expected % 1) / epochs)
    z = (counts.mean(axis=0) - expected)[fractional] / spread[fractional]
    assert np.abs(z).max() < 4.5
    assert stats.kstest(z, "norm").pvalue > 1e-3


@pytest.mark.parametrize("alpha", [None, 0.0])
def test_alpha_zero_equals_oversampling_off_a_permutation_of_the_labelled_rows(
    split: Split, alpha: float | None
) -> None:
    weighting = JointWeighting(split.targets, task_alpha=alpha)
    labelled = np.flatnonzero(split.labelled).tolist()
    sampler = JointSampler(weighting, seed=2)
    for epoch in range(3):
        assert sorted(sampler.indices(epoch).tolist()) == labelled
    batches = FlexibleBatchSampler(weighting, 32, seed=2).epoch_batches(0)
    assert len(set(batches.ravel().tolist())) == batches.size  # full coverage, no repeats


def test_alpha_zero_and_off_give_the_same_distribution_of_first_draws(split: Split) -> None:
    """Both are uniform random permutations: the row at any position is uniform over labelled rows."""
    firsts = {
        alpha: [
            JointSampler(JointWeighting(split.targets, task_alpha=alpha), seed=s).indices(0)[0]
            for s in range(3000)
        ]
        for alpha in (None, 0.0)
    }
    weighting = JointWeighting(split.targets, task_alpha=0.0)
    for values in firsts.values():
        by_task = np.bincount(weighting.primary[values], minlength=4)
        expected = np.bincount(weighting.primary[split.labelled], minlength=4)
        assert stats.chisquare(by_task, expected / expected.sum() * by_task.sum()).pvalue > 1e-3


def test_weighted_epochs_cover_more_rows_than_independent_draws(split: Split) -> None:
    weighting = JointWeighting(split.targets, task_alpha=0.5)
    sampler = JointSampler(weighting, seed=0)
    expected = len(sampler) * sampler.probabilities()
    covered = np.unique(sampler.indices(0)).size
    independent = float(np.sum(1 - np.exp(-expected)))  # E[distinct rows] of i.i.d. draws
    assert covered >= (expected >= 1).sum()
    assert covered > independent + 50


@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.QualityShareWarning")
@pytest.mark.parametrize("leaky", [0.0, 0.3])
def test_inside_batch_cells_rows_of_a_class_share_its_draws_within_one(leaky: float) -> None:
    split = skewed_split(n=3000, seed=2)
    weighting = weighting_for(split, 0.5, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCellWarning)
        sampler = FlexibleBatchSampler(
            weighting,
            32,
            experiment=split.experiment,
            condition=split.condition,
            experiment_aware=True,
            condition_balanced=True,
            leaky=leaky,
            seed=1,
        )
    for epoch in range(3):
        batches = sampler.epoch_batches(epoch)
        counts = np.bincount(batches.ravel(), minlength=len(split.labelled))
        layout = sampler.layout
        per_class = np.split(counts[layout.rows], layout.starts[1:])
        assert all(c.max() - c.min() <= 1 for c in per_class)
        if leaky == 0.0:
            # A cell's slots go to its classes in floor / ceiling of slots * class mass / cell mass.
            plan = sampler._plan()
            cell_slots = np.bincount(layout.class_of_row[batches.ravel()], minlength=layout.n_classes)
            cell_slots = np.bincount(sampler._class_cell, weights=cell_slots)[sampler._class_cell]
            cell_mass = plan.cell_mass.ravel()[sampler._class_cell]
            expected = cell_slots * plan.masses / cell_mass
            drawn = np.array([c.sum() for c in per_class])
            assert np.all(np.abs(drawn - expected) < 1 + 1e-9)
