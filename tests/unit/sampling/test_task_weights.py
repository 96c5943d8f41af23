"""Task oversampling (SPEC 2.1): rarest-task rule, inverse-power weights, errors and warnings."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling import label_counts, primary_tasks, task_weights

masks = st.integers(1, 6).flatmap(
    lambda t: arrays(np.bool_, st.tuples(st.integers(1, 40), st.just(t))).filter(
        lambda m: m.any(axis=0).all()
    )
)


def targets_from(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 1.0, np.nan)


@settings(max_examples=80, deadline=None)
@given(masks)
def test_primary_task_is_the_rarest_labelled_task_with_ties_to_the_lower_index(mask: np.ndarray) -> None:
    counts = mask.sum(axis=0)
    primary = primary_tasks(targets_from(mask))
    for row, labels in enumerate(mask):
        tasks = np.flatnonzero(labels)
        expected = -1 if tasks.size == 0 else min(tasks, key=lambda t: (counts[t], t))
        assert primary[row] == expected


@settings(max_examples=60, deadline=None)
@given(masks, st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_weight_is_primary_count_to_the_minus_alpha_and_zero_without_labels(
    mask: np.ndarray, alpha: float
) -> None:
    counts = mask.sum(axis=0)
    weights = task_weights(targets_from(mask), alpha)
    for row, labels in enumerate(mask):
        tasks = np.flatnonzero(labels)
        if tasks.size == 0:
            assert weights[row] == 0.0
        else:
            assert weights[row] == pytest.approx(float(counts[tasks].min()) ** -alpha)


def test_alpha_zero_weighs_every_labelled_row_one() -> None:
    targets = np.array([[1.0, np.nan], [np.nan, 2.0], [np.nan, np.nan], [3.0, 4.0]])
    assert task_weights(targets, 0.0).tolist() == [1.0, 1.0, 0.0, 1.0]


def test_counts_are_taken_over_the_rows_given() -> None:
    targets = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, 5.0], [np.nan, 6.0]])
    assert label_counts(targets).tolist() == [3, 2]
    assert task_weights(targets, 1.0).tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 2, 1 / 2])
    assert task_weights(targets[:3], 1.0).tolist() == pytest.approx([1 / 3, 1 / 3, 1.0])


def test_a_task_without_labels_is_an_error_naming_it() -> None:
    targets = np.array([[1.0, np.nan, np.nan], [2.0, np.nan, 3.0]])
    with pytest.raises(DataValidationError, match=r"task column\(s\) 1 \('HLM'\) have no labelled rows"):
        task_weights(targets, 0.5, task_names=["SOL", "HLM", "RLM"])
    with pytest.raises(DataValidationError, match=r"task column\(s\) 1 have no labelled rows"):
        primary_tasks(targets)


@pytest.mark.parametrize("alpha", [-0.5, 1.5])
def test_alpha_outside_unit_interval_warns_and_still_weights(
    alpha: float, caplog: pytest.LogCaptureFixture
) -> None:
    targets = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, 3.0]])
    with caplog.at_level(logging.WARNING, logger="admet_hpo.sampling.tasks"):
        weights = task_weights(targets, alpha)
    assert f"alpha={alpha} is outside [0, 1]" in caplog.text
    assert weights.tolist() == pytest.approx([2.0**-alpha, 2.0**-alpha, 1.0])


def test_alpha_inside_unit_interval_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        task_weights(np.array([[1.0]]), 1.0)
    assert not caplog.records


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), np.array([[1, 2]])])
def test_targets_must_be_a_2d_float_matrix(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="targets must be a 2-D float array"):
        task_weights(bad, 0.5)


def test_task_names_must_match_the_columns() -> None:
    with pytest.raises(ValueError, match="1 task names given for 2 target columns"):
        label_counts(np.ones((2, 2)), ["a"])
