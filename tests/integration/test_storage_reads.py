"""ResilientRDBStorage's own reads, on SQLite and PostgreSQL: a trial's system attributes in one query
(the same as Optuna's own reading of the whole trial; the query names tables of Optuna's RDB schema), and
a study's id read once per name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.storages import RDBStorage
from worker_support import postgres_database

from admet_hpo.storage.rdb import ResilientRDBStorage, open_storage


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResilientRDBStorage]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'optuna.db'}"
        else:
            url = stack.enter_context(postgres_database("sysattrs")).url()
        opened = open_storage(url)
        yield opened
        opened.engine.dispose()


def test_system_attrs_equal_optunas_reading_of_the_whole_trial(storage: ResilientRDBStorage) -> None:
    study = optuna.create_study(
        study_name="s", storage=storage, pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    )
    for number in range(4):  # rungs written by the pruner itself
        trial = study.ask()
        for step in range(1, 5):
            trial.report(float(number + step), step)
            if trial.should_prune():
                break
        study.tell(trial, float(number))
    bare = study.ask()  # a trial without system attributes
    typed = study.ask()
    for key, value in {"none": None, "list": [1, "a", 2.5], "nested": {"k": [True]}, "text": "é"}.items():
        storage.set_trial_system_attr(typed._trial_id, key, value)
    trial_ids = [t._trial_id for t in study.get_trials(deepcopy=False)]
    assert bare._trial_id in trial_ids and len(trial_ids) == 6
    for trial_id in trial_ids:
        whole_trial = RDBStorage.get_trial(storage, trial_id)
        assert storage.get_trial_system_attrs(trial_id) == whole_trial.system_attrs
    assert storage.get_trial_system_attrs(bare._trial_id) == {}
    assert storage.get_trial_system_attrs(typed._trial_id)["nested"] == {"k": [True]}
    assert any("completed_rung_0" in storage.get_trial_system_attrs(t) for t in trial_ids)


def test_an_unknown_trial_raises_key_error_as_optuna_does(storage: ResilientRDBStorage) -> None:
    optuna.create_study(study_name="s", storage=storage)
    with pytest.raises(KeyError):
        RDBStorage.get_trial(storage, 999)
    with pytest.raises(KeyError, match="999"):
        storage.get_trial_system_attrs(999)


def test_a_study_id_is_read_once_and_forgotten_once_the_study_is_deleted(
    storage: ResilientRDBStorage,
) -> None:
    first = optuna.create_study(study_name="s", storage=storage)._study_id
    statements: list[str] = []
    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert [storage.get_study_id_from_name("s") for _ in range(3)] == [first] * 3
    assert not [s for s in statements if "studies" in s]
    storage.delete_study(first)
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("s")
    second = optuna.create_study(study_name="s", storage=storage)._study_id
    assert storage.get_study_id_from_name("s") == second
