"""Quality curriculum (SPEC 2.2): phases, default weights, one phase per plateau, weights, state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling import CurriculumState

losses = st.lists(st.one_of(st.floats(0.0, 2.0), st.just(math.nan)), min_size=1, max_size=40)


def test_phases_and_default_weights_follow_the_spec_table() -> None:
    three = CurriculumState(["high", "medium", "low"], patience=1)
    assert three.phases == ("warmup", "expand", "robust", "polish")
    assert three.probabilities == pytest.approx({"high": 0.80, "medium": 0.15, "low": 0.05})
    assert three.phase_probabilities("robust") == pytest.approx({"high": 0.50, "medium": 0.35, "low": 0.15})
    two = CurriculumState(["good", "bad"], patience=1)
    assert two.phases == ("warmup", "expand", "polish")
    assert two.phase_probabilities("expand") == pytest.approx({"good": 0.65, "bad": 0.35})
    assert two.phase_probabilities("polish") == pytest.approx({"good": 0.75, "bad": 0.25})
    assert CurriculumState(["only"], patience=1).phases == ("warmup", "polish")
    five = CurriculumState(list("abcde"), patience=1)
    assert five.phases == ("warmup", "expand", "robust", "polish")
    assert all(
        p == pytest.approx(0.2) for phase in five.phases for p in five.phase_probabilities(phase).values()
    )


def test_configured_phase_weights_override_only_their_phase_and_are_normalised() -> None:
    state = CurriculumState(["high", "medium", "low"], patience=1, phase_weights={"polish": [2, 1, 1]})
    assert state.phase_probabilities("polish") == pytest.approx({"high": 0.5, "medium": 0.25, "low": 0.25})
    assert state.phase_probabilities("warmup") == pytest.approx({"high": 0.8, "medium": 0.15, "low": 0.05})


@pytest.mark.parametrize(
    ("qualities", "weights", "message"),
    [
        (
            ["h", "m", "l"],
            {"warmup": [1, 1]},
            r"phase 'warmup' has 2 weights but there are 3 qualities \(h, m, l\)",
        ),
        (["h", "l"], {"robust": [1, 1]}, r"phase 'robust' does not exist with 2 qualities"),
        (["h", "l"], {"warmup": [1, -1]}, r"must be finite, >= 0 and have a positive sum"),
        (["h", "l"], {"warmup": [0, 0]}, r"must be finite, >= 0 and have a positive sum"),
    ],
)
def test_bad_phase_weights_are_rejected_with_a_clear_message(
    qualities: list, weights: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CurriculumState(qualities, patience=1, phase_weights=weights)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qualities": ["a", "a"], "patience": 1}, "qualities must be unique"),
        ({"qualities": ["a"], "patience": 0}, "patience must be >= 1"),
        ({"qualities": ["a"], "patience": 1, "min_delta": -1.0}, "min_delta must be >= 0"),
        ({"qualities": [], "patience": 1}, "at least one quality"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CurriculumState(**kwargs)


def test_a_plateau_of_patience_epochs_advances_one_phase_and_restarts_the_counter() -> None:
    state = CurriculumState(["high", "medium", "low"], patience=2, min_delta=0.01)
    advanced = [
        state.update(epoch, loss) for epoch, loss in enumerate([1.0, 0.5, 0.495, 0.5, 0.4, 0.41, 0.41])
    ]
    # epoch 2 does not improve by more than min_delta; epochs 2-3 are the plateau -> advance at 3;
    # epoch 4 improves; epochs 5-6 are the next plateau -> advance at 6.
    assert advanced == [False, False, False, True, False, False, True]
    assert state.phase == "robust"
    assert state.transitions == [(3, "expand"), (6, "robust")]


def test_polish_is_final() -> None:
    state = CurriculumState(["high", "low"], patience=1)
    changes = [state.update(epoch, 1.0) for epoch in range(10)]
    assert changes == [False, True, True] + [False] * 7
    assert state.phase == "polish" and state.is_final


def test_each_epoch_counts_once_and_nan_never_improves() -> None:
    state = CurriculumState(["high", "low"], patience=2)
    assert not state.update(0, 1.0)
    assert not state.update(0, 5.0) and not state.update(0, 5.0)
    assert not state.update(1, math.nan)
    assert state.update(2, math.nan)
    assert state.best == 1.0


def reference_phases(loss_seq: list[float], patience: int, min_delta: float, n_phases: int) -> list[int]:
    """Straightforward restatement of the plateau rule: counter of epochs since improvement or change."""
    phase, best, since, out = 0, math.inf, 0, []
    for loss in loss_seq:
        if loss < best - min_delta:
            best, since = loss, 0
        else:
            since += 1
            if since >= patience and phase < n_phases - 1:
                phase, since = phase + 1, 0
        out.append(phase)
    return out


@settings(max_examples=150, deadline=None)
@given(losses, st.integers(1, 4), st.sampled_from([0.0, 1e-4, 0.05]))
def test_plateau_rule_matches_a_reference_and_never_skips_phases(
    loss_seq: list[float], patience: int, min_delta: float
) -> None:
    state = CurriculumState(["high", "medium", "low"], patience=patience, min_delta=min_delta)
    seen = []
    for epoch, loss in enumerate(loss_seq):
        before = state.phase_index
        advanced = state.update(epoch, loss)
        assert state.phase_index - before == int(advanced) <= 1
        seen.append(state.phase_index)
    assert seen == reference_phases(loss_seq, patience, min_delta, len(state.phases))
    changes = [epoch for epoch, _ in state.transitions]
    assert all(b - a >= patience for a, b in zip([-1, *changes], changes, strict=False))


@settings(max_examples=60, deadline=None)
@given(losses, st.integers(0, 40))
def test_state_dict_round_trip_through_json_continues_identically(loss_seq: list[float], cut: int) -> None:
    cut = min(cut, len(loss_seq))
    original = CurriculumState(["high", "medium", "low"], patience=2)
    for epoch, loss in enumerate(loss_seq[:cut]):
        original.update(epoch, loss)
    restored = CurriculumState(["high", "medium", "low"], patience=2)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert restored.state_dict() == original.state_dict()
    for epoch, loss in enumerate(loss_seq[cut:], start=cut):
        assert restored.update(epoch, loss) == original.update(epoch, loss)
        assert restored.phase == original.phase
        assert restored.probabilities == original.probabilities


def test_state_for_other_qualities_is_refused() -> None:
    state = CurriculumState(["high", "low"], patience=1).state_dict()
    with pytest.raises(ValueError, match=r"state is for qualities \['high', 'low'\]"):
        CurriculumState(["a", "b"], patience=1).load_state_dict(state)
    with pytest.raises(ValueError, match="unsupported curriculum state version"):
        CurriculumState(["high", "low"], patience=1).load_state_dict({**state, "version": 99})


def test_count_normalised_row_weights_are_p_over_count_and_give_quality_share_p() -> None:
    state = CurriculumState(["high", "medium", "low"], patience=1)
    labels = np.array(["low"] * 70 + ["high"] * 10 + ["medium"] * 20)
    weights = state.row_weights(labels)
    assert weights[0] == pytest.approx(0.05 / 70) and weights[70] == pytest.approx(0.80 / 10)
    shares = {q: weights[labels == q].sum() / weights.sum() for q in state.qualities}
    assert shares == pytest.approx(state.probabilities)


def test_without_count_normalisation_rows_weigh_p() -> None:
    state = CurriculumState(["high", "low"], patience=1, count_normalize=False)
    assert state.row_weights(np.array([1, 0, 1])).tolist() == pytest.approx([0.15, 0.85, 0.15])


def test_unknown_or_missing_quality_labels_are_data_errors_naming_rows() -> None:
    state = CurriculumState(["high", "low"], patience=1)
    with pytest.raises(DataValidationError, match=r"first rows \[1, 3\] with values \['mid', None\]"):
        state.quality_codes(np.array(["high", "mid", "low", None], dtype=object))
    with pytest.raises(DataValidationError, match=r"first rows \[2\]"):
        state.quality_codes(np.array([0, 1, 2]))


def test_metrics_report_phase_and_probabilities() -> None:
    state = CurriculumState(["high", "low"], patience=1)
    state.update(0, 1.0)
    state.update(1, 1.0)
    assert state.metrics() == pytest.approx(
        {"curriculum/phase_index": 1.0, "curriculum/p_high": 0.65, "curriculum/p_low": 0.35}
    )
