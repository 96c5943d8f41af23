"""Joint weights (SPEC 2.3): multiplicative composition, single-factor reproduction, classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.sampling import CurriculumState, JointWeighting, joint_weights, task_weights

from .synthetic import QUALITIES, Split, make_split

configs = st.tuples(
    st.integers(0, 10_000),  # data seed
    st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 1.7])),  # alpha or off
    st.booleans(),  # curriculum on
    st.booleans(),  # count_normalize
    st.integers(0, 3),  # curriculum phase
)


def curriculum_at(phase: int, count_normalize: bool = True) -> CurriculumState:
    state = CurriculumState(QUALITIES, patience=1, count_normalize=count_normalize)
    for epoch in range(phase + 1):
        state.update(epoch, 1.0)  # epoch 0 sets best; each later epoch is a plateau of 1
    assert state.phase_index == phase
    return state


@settings(max_examples=40, deadline=None)
@given(configs)
def test_joint_weights_are_the_normalised_product_of_the_single_strategies(config: tuple) -> None:
    seed, alpha, curriculum_on, count_normalize, phase = config
    split = make_split(n=300, seed=seed)
    curriculum = curriculum_at(phase, count_normalize) if curriculum_on else None
    weighting = JointWeighting(split.targets, task_alpha=alpha, quality=split.quality, curriculum=curriculum)
    labelled = split.labelled
    task = task_weights(split.targets, alpha) if alpha is not None else labelled.astype(float)
    quality = np.ones(len(labelled))
    if curriculum is not None:
        # SPEC 2.7.1: a quality's weight is p_q over its rows' total task weight (its count without
        # task oversampling), so the quality shares stay p_q under task oversampling.
        codes = curriculum.quality_codes(split.quality)
        task_mass = np.bincount(codes[labelled], weights=task[labelled], minlength=3)
        quality = curriculum.quality_row_weights(task_mass)[codes]
    expected = task * quality * labelled
    assert weighting.row_weights() == pytest.approx(expected / expected.sum(), rel=1e-9, abs=1e-15)
    # The class-level weights the samplers use agree with the row-level product.
    per_row = np.zeros(len(labelled))
    per_row[weighting.layout.rows] = np.repeat(weighting.class_weights(), weighting.layout.sizes)
    assert per_row / per_row.sum() == pytest.approx(weighting.row_weights(), rel=1e-9, abs=1e-15)
    if curriculum is not None and count_normalize:
        shares = [weighting.row_weights()[split.quality == q].sum() for q in QUALITIES]
        present = [(split.quality[labelled] == q).any() for q in QUALITIES]
        wanted = np.array([curriculum.probabilities[q] for q in QUALITIES]) * present
        assert shares == pytest.approx(wanted / wanted.sum(), rel=1e-9, abs=1e-12)


def test_single_strategy_weights_are_reproduced_exactly(split: Split) -> None:
    labelled = split.labelled
    only_task = JointWeighting(split.targets, task_alpha=0.5, quality=split.quality)
    w = task_weights(split.targets, 0.5)
    assert np.array_equal(only_task.row_weights(), w / w.sum())
    curriculum = CurriculumState(QUALITIES, patience=1)
    only_quality = JointWeighting(split.targets, quality=split.quality, curriculum=curriculum)
    q = np.where(labelled, 0.0, 0.0)
    q[labelled] = curriculum.row_weights(split.quality[labelled])
    assert only_quality.row_weights() == pytest.approx(q / q.sum(), rel=1e-12)
    neither = JointWeighting(split.targets)
    assert np.array_equal(neither.row_weights(), labelled / labelled.sum())
    assert neither.layout.n_classes == 1 and neither.class_weights().tolist() == [1.0]


@pytest.mark.parametrize("alpha", [None, 0.5, 1.0])
def test_count_normalisation_gives_each_quality_share_p_q_with_or_without_task_oversampling(
    split: Split, alpha: float | None
) -> None:
    curriculum = curriculum_at(2)
    weighting = JointWeighting(split.targets, task_alpha=alpha, quality=split.quality, curriculum=curriculum)
    weights = weighting.row_weights()
    shares = {q: weights[split.quality == q].sum() for q in QUALITIES}
    assert shares == pytest.approx(curriculum.probabilities, rel=1e-12)
    if alpha:  # task oversampling still acts inside each quality: rarer primary tasks weigh more
        high = weighting.labelled & (split.quality == "high")
        by_task = {t: weights[high & (weighting.primary == t)].max() for t in (0, 3)}
        assert by_task[3] / by_task[0] == pytest.approx(
            (weighting.task_counts[0] / weighting.task_counts[3]) ** alpha
        )


def test_classes_follow_the_factors_that_are_on(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1)
    n_tasks = split.targets.shape[1]
    assert JointWeighting(split.targets, task_alpha=1.0).layout.n_classes == n_tasks
    assert JointWeighting(split.targets, quality=split.quality, curriculum=curriculum).layout.n_classes == 3
    both = JointWeighting(split.targets, task_alpha=1.0, quality=split.quality, curriculum=curriculum)
    assert both.layout.n_classes == n_tasks * 3
    assert both.n_labelled == int(split.labelled.sum())
    assert set(both.layout.rows.tolist()) == set(np.flatnonzero(split.labelled).tolist())


def test_joint_weights_without_any_positive_weight_is_an_error() -> None:
    with pytest.raises(ValueError, match="no labelled row has a positive weight"):
        joint_weights(np.array([True, False]), np.array([0.0, 1.0]))


def test_curriculum_requires_quality_labels(split: Split) -> None:
    with pytest.raises(ValueError, match="quality labels are required"):
        JointWeighting(split.targets, curriculum=CurriculumState(QUALITIES, patience=1))
