"""Nightly sweep decisions without training: warm start, budget, stop rule, data versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from admet_hpo.config.study import Study, load_study
from admet_hpo.errors import ConfigError
from admet_hpo.orchestration import nightly
from admet_hpo.orchestration.nightly import (
    best_of_earlier_nights,
    choose_data_version,
    night_counts,
    night_of,
    parameter_set,
    remaining_budget,
    warm_start,
)
from admet_hpo.orchestration.session import StudySession
from admet_hpo.search.versioning import study_versions, versioned_study_name
from admet_hpo.storage.rdb import open_storage
from admet_hpo.tracking.keys import (
    DATA_HASH_ATTR,
    NIGHT_ATTR,
    NIGHTLY_VERSION_ATTR,
)

DISTRIBUTIONS = {"x": FloatDistribution(0.0, 10.0)}
START = datetime(2026, 1, 1, 1, 0)


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def frozen(x: float, value: float | None, night: str | None, state: TrialState = TrialState.COMPLETE):
    """A finished trial with parameter ``x`` and, when ``night`` is given, tagged with that night."""
    return optuna.trial.create_trial(
        params={"x": x},
        distributions=DISTRIBUTIONS,
        value=value if state == TrialState.COMPLETE else None,
        state=state,
        user_attrs={} if night is None else {NIGHT_ATTR: night},
    )


def add(study: optuna.Study, x: float, value: float | None, night: str | None, state=TrialState.COMPLETE):
    study.add_trial(frozen(x, value, night, state))


def test_best_of_earlier_nights_ranks_distinct_sets_of_earlier_nights_only() -> None:
    study = optuna.create_study()
    add(study, 1.0, 0.5, "2026-01-01")
    add(study, 2.0, 0.3, "2026-01-02")
    add(study, 2.0, 0.3, "2026-01-02")  # the same set again: one entry
    add(study, 3.0, 0.1, "2026-01-03")  # tonight: not earlier
    add(study, 4.0, 0.05, None)  # not a nightly trial
    add(study, 5.0, None, "2026-01-01", state=TrialState.PRUNED)
    add(study, 6.0, 0.4, "2026-01-01")
    best = best_of_earlier_nights(study.trials, "2026-01-03", 3, "minimize")
    assert [t.params["x"] for t in best] == [2.0, 6.0, 1.0]
    assert best[0].number == 1  # ties keep the earlier trial
    worst_first = best_of_earlier_nights(study.trials, "2026-01-03", 2, "maximize")
    assert [t.params["x"] for t in worst_first] == [1.0, 6.0]


def test_warm_start_enqueues_best_first_tagged_with_the_night_and_skips_sets_of_tonight() -> None:
    study = optuna.create_study()
    add(study, 1.0, 0.5, "2026-01-01")
    add(study, 2.0, 0.3, "2026-01-01")
    add(study, 3.0, 0.4, "2026-01-01")
    add(study, 3.0, 0.9, "2026-01-02")  # x=3 already ran tonight
    enqueued = warm_start(study, [study], "2026-01-02", k=3, limit=None)
    assert enqueued == [{"x": 2.0}, {"x": 1.0}]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [parameter_set(t) for t in waiting] == [{"x": 2.0}, {"x": 1.0}]
    assert all(t.user_attrs[NIGHT_ATTR] == "2026-01-02" for t in waiting)
    assert warm_start(study, [study], "2026-01-02", k=3, limit=None) == []  # enqueued sets count as tonight's
    assert len(study.trials) == 6


def test_warm_start_respects_the_limit_and_takes_sets_from_every_source() -> None:
    old, new = optuna.create_study(), optuna.create_study()
    add(old, 1.0, 0.2, "2026-01-01")
    add(old, 2.0, 0.1, "2026-01-01")
    add(new, 3.0, 0.15, "2026-01-01")
    assert warm_start(new, [new, old], "2026-01-02", k=3, limit=2) == [{"x": 2.0}, {"x": 3.0}]
    assert old.get_trials(states=(TrialState.WAITING,)) == []


def test_night_counts_and_remaining_budget() -> None:
    trials = [
        frozen(1.0, 0.1, "2026-01-02"),
        frozen(2.0, None, "2026-01-02", TrialState.PRUNED),
        frozen(3.0, None, "2026-01-02", TrialState.FAIL),
        frozen(4.0, 0.1, "2026-01-01"),
    ]
    for trial in trials:
        trial.datetime_start, trial.datetime_complete = START, START + timedelta(minutes=10)
    counts = night_counts(trials, "2026-01-02")
    assert (counts.complete, counts.pruned, counts.failed, counts.finished) == (1, 1, 1, 2)
    assert counts.seconds == pytest.approx(3 * 600)  # failed trials used time too
    assert remaining_budget(5, None, counts).trials == 3
    assert not remaining_budget(5, None, counts).spent
    assert remaining_budget(2, None, counts).spent
    assert remaining_budget(None, 30, counts).seconds == 0 and remaining_budget(None, 30, counts).spent
    assert remaining_budget(None, 40, counts).seconds == pytest.approx(600)
    assert remaining_budget(9, 30, counts).spent  # whichever ends first


def test_night_of_uses_the_study_time_zone() -> None:
    moment = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    assert night_of(moment, "Europe/Berlin").isoformat() == "2026-01-02"
    assert night_of(moment, "UTC").isoformat() == "2026-01-01"


# ---------------------------------------------------------------------------------------- data versions


@pytest.fixture
def study(tmp_path: Path) -> Study:
    (tmp_path / "space.yaml").write_text(
        yaml.safe_dump(
            {"parameters": {"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-2}}}
        )
    )
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "nt",
                "search_spaces": ["space.yaml"],
                "data": {"dataset": "demo"},
                "n_trials": 2,
                "storage": "sqlite:///optuna.db",
            }
        )
    )
    return load_study(tmp_path / "s.yaml")


def _create(storage, name: str, **attrs: str) -> optuna.Study:
    created = optuna.create_study(study_name=name, storage=storage)
    for key, value in attrs.items():
        created.set_user_attr(key, value)
    return created


A, B = "a" * 64, "b" * 64


def test_the_first_night_uses_the_base_version(study: Study) -> None:
    version = choose_data_version(study, open_storage(study.storage), A)
    assert version.name == versioned_study_name(study) and not version.exists and version.previous is None
    assert version.study is study


def test_a_base_version_without_a_recorded_hash_is_kept(study: Study) -> None:
    storage = open_storage(study.storage)
    _create(storage, versioned_study_name(study))
    version = choose_data_version(study, storage, B)
    assert version.name == versioned_study_name(study) and version.exists and version.previous is None


def test_the_same_data_stays_in_the_base_version(study: Study) -> None:
    storage = open_storage(study.storage)
    _create(storage, versioned_study_name(study), **{DATA_HASH_ATTR: A})
    version = choose_data_version(study, storage, A)
    assert (version.name, version.previous) == (versioned_study_name(study), None)


def test_changed_data_goes_to_a_data_version_named_after_its_hash(study: Study) -> None:
    storage = open_storage(study.storage)
    base = versioned_study_name(study)
    _create(storage, base, **{DATA_HASH_ATTR: A})
    version = choose_data_version(study, storage, B)
    space8 = base.rsplit("-", 1)[1]
    assert version.name == f"nt-dbbbbbbbb-{space8}"
    assert version.study.name == "nt-dbbbbbbbb" and versioned_study_name(version.study) == version.name
    assert not version.exists
    assert (version.previous, version.previous_data_hash) == (base, A)


def test_data_going_back_returns_to_the_base_version_and_names_the_version_left(study: Study) -> None:
    storage = open_storage(study.storage)
    base = versioned_study_name(study)
    data_version = f"nt-dbbbbbbbb-{base.rsplit('-', 1)[1]}"
    _create(storage, base, **{DATA_HASH_ATTR: A, NIGHTLY_VERSION_ATTR: data_version})
    _create(storage, data_version, **{DATA_HASH_ATTR: B})
    back = choose_data_version(study, storage, A)
    assert (back.name, back.exists, back.previous, back.previous_data_hash) == (base, True, data_version, B)
    again = choose_data_version(study, storage, B)
    assert (again.name, again.exists, again.previous) == (data_version, True, None)


def test_a_deleted_previous_version_is_not_named(study: Study) -> None:
    storage = open_storage(study.storage)
    base = versioned_study_name(study)
    _create(storage, base, **{DATA_HASH_ATTR: A, NIGHTLY_VERSION_ATTR: "nt-dcccccccc-00000000"})
    assert choose_data_version(study, storage, A).previous is None


def test_study_version_names_lists_space_and_data_versions_of_this_study_only(study: Study) -> None:
    storage = open_storage(study.storage)
    for name in ("nt-12345678", "nt-dbbbbbbbb-12345678", "nt-9abcdef0", "ntx-12345678", "nt-extra-12345678"):
        _create(storage, name)
    assert study_versions(study, storage) == ["nt-12345678", "nt-9abcdef0", "nt-dbbbbbbbb-12345678"]


def test_reaping_a_missing_sqlite_storage_is_an_error(study: Study) -> None:
    with pytest.raises(ConfigError, match=r"no study storage at .*optuna\.db"):
        nightly.reap_study(StudySession(study))
