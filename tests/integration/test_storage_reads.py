"""ResilientRDBStorage's own reads, on SQLite and PostgreSQL: a study's id is read once per name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from worker_support import postgres_database

from admet_hpo.storage.rdb import ResilientRDBStorage, open_storage


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResilientRDBStorage]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'optuna.db'}"
        else:
            url = stack.enter_context(postgres_database("storage_reads")).url()
        opened = open_storage(url)
        yield opened
        opened.engine.dispose()


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
