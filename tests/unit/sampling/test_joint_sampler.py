"""JointSampler: draws follow the joint weights, unlabelled rows never appear, epochs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling import CurriculumState, JointSampler, JointWeighting

from .synthetic import QUALITIES, Split, assert_fits, make_split, rejects

DRAWS = 200_000


def test_alpha_zero_draws_uniformly_over_labelled_rows(split: Split) -> None:
    sampler = JointSampler(JointWeighting(split.targets, task_alpha=0.0), num_samples=DRAWS, seed=11)
    counts = np.bincount(sampler.indices(0), minlength=len(split.labelled))
    assert_fits(counts, split.labelled.astype(float))


def test_alpha_one_gives_each_primary_task_a_share_proportional_to_its_rows_over_n_t(split: Split) -> None:
    weighting = JointWeighting(split.targets, task_alpha=1.0)
    drawn = weighting.primary[JointSampler(weighting, num_samples=DRAWS, seed=5).indices(0)]
    observed = np.bincount(drawn, minlength=split.targets.shape[1])
    rows_per_primary = np.bincount(weighting.primary[weighting.labelled])
    expected = rows_per_primary / weighting.task_counts
    assert_fits(observed, expected)
    assert rejects(observed, rows_per_primary)  # the test can tell oversampling from none


def test_single_label_rows_with_alpha_one_give_equal_task_shares() -> None:
    rng = np.random.default_rng(3)
    task = rng.choice(3, 5000, p=[0.8, 0.15, 0.05])
    targets = np.full((5000, 3), np.nan)
    targets[np.arange(5000), task] = 1.0
    weighting = JointWeighting(targets, task_alpha=1.0)
    observed = np.bincount(weighting.primary[JointSampler(weighting, num_samples=60_000, seed=1).indices(0)])
    assert_fits(observed, np.ones(3))


def test_draw_frequencies_match_the_joint_probabilities(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1)
    weighting = JointWeighting(split.targets, task_alpha=0.7, quality=split.quality, curriculum=curriculum)
    sampler = JointSampler(weighting, num_samples=DRAWS, seed=2)
    classes = weighting.layout.class_of_row[sampler.indices(0)]
    observed = np.bincount(classes, minlength=weighting.layout.n_classes)
    assert_fits(observed, weighting.layout.sizes * weighting.class_weights())
    # Inside a class, every row is equally likely.
    biggest = int(np.argmax(observed))
    members = weighting.layout.class_of_row == biggest
    assert_fits(np.bincount(sampler.indices(0), minlength=len(members))[members], np.ones(members.sum()))


@pytest.mark.parametrize("phase", [0, 2])
def test_count_normalised_curriculum_draws_each_quality_with_probability_p_q(
    split: Split, phase: int
) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1)
    for epoch in range(phase + 1):
        curriculum.update(epoch, 1.0)
    weighting = JointWeighting(split.targets, quality=split.quality, curriculum=curriculum)
    drawn = split.quality[JointSampler(weighting, num_samples=DRAWS, seed=phase).indices(0)]
    observed = np.array([(drawn == q).sum() for q in QUALITIES])
    assert_fits(observed, [curriculum.probabilities[q] for q in QUALITIES])
    group_sizes = [(split.quality[split.labelled] == q).sum() for q in QUALITIES]
    assert rejects(observed, np.array(group_sizes) * [curriculum.probabilities[q] for q in QUALITIES])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.one_of(st.none(), st.floats(-1.0, 2.0)),
    st.booleans(),
    st.integers(1, 3000),
)
def test_unlabelled_rows_are_never_drawn(
    seed: int, alpha: float | None, curriculum_on: bool, count: int
) -> None:
    split = make_split(n=200, unlabelled=0.3, seed=seed)
    curriculum = CurriculumState(QUALITIES, patience=1) if curriculum_on else None
    weighting = JointWeighting(split.targets, task_alpha=alpha, quality=split.quality, curriculum=curriculum)
    drawn = JointSampler(weighting, num_samples=count, seed=seed).indices(seed % 5)
    assert drawn.shape == (count,)
    assert split.labelled[drawn].all()


def test_all_off_is_one_permutation_of_the_labelled_rows_per_epoch(split: Split) -> None:
    sampler = JointSampler(JointWeighting(split.targets), seed=4)
    first, second = sampler.indices(0), sampler.indices(1)
    assert sorted(first.tolist()) == np.flatnonzero(split.labelled).tolist()
    assert sorted(second.tolist()) == sorted(first.tolist()) and not np.array_equal(first, second)
    assert len(sampler) == split.labelled.sum()


def test_same_seed_and_epoch_give_identical_draws_and_the_epoch_changes_them(split: Split) -> None:
    weighting = JointWeighting(split.targets, task_alpha=0.5)
    a, b = JointSampler(weighting, seed=9), JointSampler(weighting, seed=9)
    assert np.array_equal(a.indices(3), b.indices(3))
    assert not np.array_equal(a.indices(3), a.indices(4))
    assert not np.array_equal(a.indices(3), JointSampler(weighting, seed=10).indices(3))
    fixed = JointSampler(weighting, seed=9, increment_seed_per_epoch=False)
    assert np.array_equal(fixed.indices(0), fixed.indices(7))
    assert not np.array_equal(fixed.indices(0), JointSampler(weighting, seed=10).indices(0))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**40), st.integers(0, 1000))
def test_neighbouring_seeds_never_share_an_epoch_stream(seed: int, epoch: int) -> None:
    """SPEC 2.7.4: (s, e + 1) and (s + 1, e) draw differently (``seed + epoch`` made them equal)."""
    weighting = JointWeighting(make_split(n=300, seed=1).targets, task_alpha=0.5)
    later = JointSampler(weighting, seed=seed).indices(epoch + 1)
    next_seed = JointSampler(weighting, seed=seed + 1).indices(epoch)
    assert not np.array_equal(later, next_seed)
    assert np.array_equal(later, JointSampler(weighting, seed=seed).indices(epoch + 1))


def test_iteration_follows_set_epoch_and_a_fresh_sampler_resumes_identically(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1)
    weighting = JointWeighting(split.targets, task_alpha=0.5, quality=split.quality, curriculum=curriculum)
    running = JointSampler(weighting, seed=1)
    history = []
    for epoch in range(4):
        running.set_epoch(epoch)
        history.append(list(running))
        curriculum.update(epoch, 1.0)  # plateau: phase advances after epochs 1 and 2
    assert curriculum.phase == "polish"
    saved = curriculum.state_dict()
    resumed_curriculum = CurriculumState(QUALITIES, patience=1)
    resumed_curriculum.load_state_dict(saved)
    resumed = JointSampler(
        JointWeighting(split.targets, task_alpha=0.5, quality=split.quality, curriculum=resumed_curriculum),
        seed=1,
    )
    running.set_epoch(4)
    resumed.set_epoch(4)
    assert list(resumed) == list(running)
    assert all(isinstance(i, int) for i in history[0])


def test_a_phase_change_shows_in_the_next_epochs_draws(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1, phase_weights={"expand": [0, 0, 1]})
    weighting = JointWeighting(split.targets, quality=split.quality, curriculum=curriculum)
    sampler = JointSampler(weighting, seed=0)
    before = split.quality[sampler.indices(1)]
    curriculum.update(0, 1.0)
    curriculum.update(1, 1.0)
    after = split.quality[sampler.indices(1)]
    assert (before == "high").mean() == pytest.approx(0.8, abs=0.05)
    assert set(after.tolist()) == {"low"}


def test_no_positive_weight_in_a_phase_is_a_data_error(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1, phase_weights={"warmup": [1, 0, 0]})
    high = split.quality == "high"
    weighting = JointWeighting(split.targets[~high], quality=split.quality[~high], curriculum=curriculum)
    with pytest.raises(
        DataValidationError,
        match="no labelled training row has a positive sampling weight in curriculum phase 'warmup'",
    ):
        JointSampler(weighting).indices(0)


def test_statistics_describe_the_draw_distribution(split: Split) -> None:
    weighting = JointWeighting(split.targets, task_alpha=1.0, quality=split.quality)
    stats = JointSampler(weighting).statistics()
    p = weighting.row_weights()[split.labelled]
    assert stats.n == split.labelled.sum()
    assert stats.ess == pytest.approx(1 / np.sum(p**2))
    assert sum(stats.task_shares.values()) == pytest.approx(1.0)
    assert set(stats.quality_shares) == set(QUALITIES)


def test_num_samples_must_be_positive_and_epochs_not_negative(split: Split) -> None:
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        JointSampler(JointWeighting(split.targets), num_samples=0)
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        JointSampler(JointWeighting(split.targets)).indices(-1)
