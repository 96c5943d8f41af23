"""A new study version starts with the previous version's best fitting parameter sets (real SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from admet_hpo.config.study import Study, load_study
from admet_hpo.search.space import suggest
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.search.warm_start import (
    WARM_START_ATTR,
    fits,
    warm_start_new_version,
    warm_start_note,
)

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.2, "high": 0.6}
LEAKY = {"path": "sampling.batches.leaky", "type": "float", "low": 0.0, "high": 0.5}


def _study(write_yaml: Callable[..., Path], parameters: dict[str, Any], **extra: Any) -> Study:
    write_yaml("space.yaml", {"parameters": parameters})
    content = {"name": "ws", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 2}
    return load_study(write_yaml("study.yaml", {**content, **extra}))


def _version(study: Study, storage: optuna.storages.BaseStorage) -> optuna.Study:
    return optuna.create_study(study_name=versioned_study_name(study), storage=storage, load_if_exists=True)


def _run_trials(optuna_study: optuna.Study, study: Study, results: list[tuple[dict[str, Any], Any]]) -> None:
    """Trials with the given parameters, told ``value`` (a float) or a state (PRUNED, FAIL)."""
    for params, outcome in results:
        optuna_study.enqueue_trial(params)
        trial = optuna_study.ask()
        suggest(trial, study.space)
        if isinstance(outcome, TrialState):
            optuna_study.tell(trial, state=outcome)
        else:
            optuna_study.tell(trial, outcome)


@pytest.fixture
def storage(tmp_path: Path) -> optuna.storages.BaseStorage:
    return optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")


def test_a_widened_space_enqueues_the_best_fitting_sets_best_first(
    write_yaml: Callable[..., Path], storage: optuna.storages.BaseStorage
) -> None:
    old = _study(write_yaml, {"alpha": ALPHA})
    old_version = _version(old, storage)
    _run_trials(
        old_version,
        old,
        [
            ({"alpha": 0.3}, 2.0),
            ({"alpha": 0.5}, 1.0),
            ({"alpha": 0.4}, TrialState.PRUNED),
            ({"alpha": 0.25}, TrialState.FAIL),
            ({"alpha": 0.6}, 3.0),
        ],
    )
    new = _study(write_yaml, {"alpha": {**ALPHA, "low": 0.0, "high": 1.0}}, warm_start={"top_k": 2})
    new_version = _version(new, storage)

    record = warm_start_new_version(new, new_version, storage)

    assert record == {"source": old_version.study_name, "trials": [1, 0]}
    waiting = new_version.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"alpha": 0.5}, {"alpha": 0.3}]
    assert waiting[0].user_attrs["warm_start_from"] == f"{old_version.study_name}#1"
    assert new_version.user_attrs[WARM_START_ATTR] == record
    assert "2 best parameter set(s)" in (warm_start_note(new_version) or "")
    trial = new_version.ask()  # the first trial of the new version runs the previous best set
    assert suggest(trial, new.space) == {"alpha": 0.5}


def test_it_happens_once_per_version_and_not_when_turned_off(
    write_yaml: Callable[..., Path], storage: optuna.storages.BaseStorage
) -> None:
    old = _study(write_yaml, {"alpha": ALPHA})
    _run_trials(_version(old, storage), old, [({"alpha": 0.3}, 1.0)])
    off = _study(write_yaml, {"alpha": {**ALPHA, "high": 0.9}}, warm_start={"enabled": False})
    assert warm_start_new_version(off, _version(off, storage), storage) is None
    assert _version(off, storage).get_trials() == []

    new = _study(write_yaml, {"alpha": {**ALPHA, "high": 0.9}})
    new_version = _version(new, storage)
    assert warm_start_new_version(new, new_version, storage) is not None
    assert warm_start_new_version(new, new_version, storage) is None  # a second run adds nothing
    assert len(new_version.get_trials()) == 1


def test_sets_outside_the_new_space_are_not_taken(
    write_yaml: Callable[..., Path], storage: optuna.storages.BaseStorage
) -> None:
    old = _study(write_yaml, {"alpha": ALPHA})
    _run_trials(_version(old, storage), old, [({"alpha": 0.3}, 1.0), ({"alpha": 0.55}, 2.0)])
    narrowed = _study(write_yaml, {"alpha": {**ALPHA, "low": 0.5}})
    version = _version(narrowed, storage)
    assert warm_start_new_version(narrowed, version, storage)["trials"] == [1]

    added = _study(write_yaml, {"alpha": {**ALPHA, "high": 0.7}, "leaky": LEAKY})
    version = _version(added, storage)
    record = warm_start_new_version(added, version, storage)
    assert record is not None and record["trials"] == []
    assert "no completed trial" in (warm_start_note(version) or "")


def test_the_previous_version_is_the_one_worked_on_last(
    write_yaml: Callable[..., Path], storage: optuna.storages.BaseStorage
) -> None:
    first = _study(write_yaml, {"alpha": ALPHA})
    _run_trials(_version(first, storage), first, [({"alpha": 0.3}, 1.0)])
    second = _study(write_yaml, {"alpha": {**ALPHA, "high": 0.8}})
    second_version = _version(second, storage)
    _run_trials(second_version, second, [({"alpha": 0.7}, 5.0)])
    third = _study(write_yaml, {"alpha": {**ALPHA, "high": 0.9}})
    third_version = _version(third, storage)
    record = warm_start_new_version(third, third_version, storage)
    assert record == {"source": second_version.study_name, "trials": [0]}
    assert third_version.get_trials()[0].system_attrs["fixed_params"] == {"alpha": 0.7}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"alpha": 0.5}, True),
        ({"alpha": 1.5}, False),  # outside the bounds
        ({"alpha": 0.5, "leaky": 0.1}, False),  # a parameter the space does not have
        ({}, False),  # a parameter missing
    ],
)
def test_fits(write_yaml: Callable[..., Path], params: dict[str, Any], expected: bool) -> None:
    space = _study(write_yaml, {"alpha": {**ALPHA, "high": 1.0}}).space
    assert fits(space, params) is expected


def test_a_choice_the_new_space_does_not_offer_does_not_fit(write_yaml: Callable[..., Path]) -> None:
    depth = {"path": "model.depth", "type": "categorical", "choices": [2, 3]}
    space = _study(write_yaml, {"depth": depth}).space
    assert fits(space, {"depth": 3})
    assert not fits(space, {"depth": 4})
