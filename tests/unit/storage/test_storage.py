"""Study storage: engine options per back end, transient-error retries, the study lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import sqlalchemy.exc
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from admet_hpo.config.study import HeartbeatConfig
from admet_hpo.errors import ConfigError
from admet_hpo.storage import rdb as storage_module
from admet_hpo.storage.rdb import (
    POOL_MAX_OVERFLOW,
    POOL_SIZE,
    FileStudyLock,
    NoStudyLock,
    ResilientRDBStorage,
    RetryPolicy,
    engine_kwargs,
    is_transient,
    open_storage,
    retry_transient,
    study_lock,
)

FAST = RetryPolicy(deadline=5.0, first_wait=0.001, max_wait=0.002)


def operational(message: str, orig: Exception | None = None) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, orig or sqlite3.OperationalError(message))


class PsycopgLikeError(Exception):
    """Stands for a psycopg error (any driver other than sqlite3)."""


PsycopgLikeError.__module__ = "psycopg"


def wrapped(error: BaseException) -> StorageInternalError:
    """``error`` as Optuna raises it: a StorageInternalError whose cause is the database error."""
    try:
        raise StorageInternalError("An exception is raised during the commit.") from error
    except StorageInternalError as raised:
        return raised


# ------------------------------------------------------------------------------------------- options


def test_engine_options_pool_each_worker_and_ping_server_connections() -> None:
    pg = engine_kwargs("postgresql+psycopg://hpo:pw@db:5432/optuna")
    assert pg["pool_pre_ping"] is True
    assert (pg["pool_size"], pg["max_overflow"]) == (POOL_SIZE, POOL_MAX_OVERFLOW)
    assert pg["connect_args"]["application_name"] == "admet-hpo" and pg["connect_args"]["connect_timeout"] > 0
    mysql = engine_kwargs("mysql+pymysql://hpo@db/optuna")
    assert mysql["pool_pre_ping"] is True and "connect_args" not in mysql
    sqlite = engine_kwargs("sqlite:////tmp/x.db")
    assert sqlite == {"connect_args": {"timeout": storage_module.SQLITE_BUSY_TIMEOUT_S}}


def test_open_storage_configures_heartbeats_and_retry_without_experimental_warnings(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        storage = open_storage(
            f"sqlite:///{tmp_path / 'a' / 'optuna.db'}",
            HeartbeatConfig(interval=2, grace_period=5, max_retry=1),
        )
    assert isinstance(storage, ResilientRDBStorage)
    assert (storage.heartbeat_interval, storage.grace_period) == (2, 5)
    assert storage.get_heartbeat_stale_trial_callback()._max_retry == 1
    assert storage.retry_policy == RetryPolicy()


def test_open_storage_errors_mask_the_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"postgresql\+psycopg://bob:\*\*\*@127\.0\.0\.1:1/x") as raised:
        open_storage("postgresql+psycopg://bob:s3cret@127.0.0.1:1/x?connect_timeout=2")
    assert "s3cret" not in str(raised.value)


# ---------------------------------------------------------------------------------------- transience


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (operational("database is locked"), True),
        (operational("database table is busy"), True),
        (operational("no such table: trials"), False),
        (operational("terminating connection", PsycopgLikeError("terminating connection")), True),
        (sqlalchemy.exc.InterfaceError("SELECT 1", {}, PsycopgLikeError("connection closed")), True),
        (sqlalchemy.exc.DBAPIError("SELECT 1", {}, PsycopgLikeError("x"), connection_invalidated=True), True),
        (sqlalchemy.exc.IntegrityError("INSERT", {}, PsycopgLikeError("duplicate key")), False),
        (sqlalchemy.exc.DataError("INSERT", {}, PsycopgLikeError("value too long")), False),
        (wrapped(operational("x", PsycopgLikeError("server closed the connection unexpectedly"))), True),
        (wrapped(operational("no such column: x")), False),
        (ValueError("database is locked"), False),
        (
            wrapped(
                sqlalchemy.exc.PendingRollbackError(
                    "Can't reconnect until invalid transaction is rolled back"
                )
            ),
            True,
        ),
    ],
)
def test_transient_errors_are_lost_connections_deadlocks_and_busy_sqlite(
    error: BaseException, expected: bool
) -> None:
    assert is_transient(error) is expected


def test_backoff_doubles_up_to_the_cap() -> None:
    failures = [operational("database is locked") for _ in range(5)]
    waits: list[float] = []

    def call() -> str:
        if failures:
            raise failures.pop()
        return "done"

    policy = RetryPolicy(deadline=60.0, first_wait=0.5, max_wait=2.0)
    assert retry_transient(call, "get_trial", policy, sleep=waits.append) == "done"
    assert waits == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_transient_errors_are_retried_with_backoff_and_logged_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [
        wrapped(operational("x", PsycopgLikeError("connection to postgresql://bob:s3cret@db/x refused"))),
        operational("database is locked"),
    ]
    waits: list[float] = []

    def call() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    policy = RetryPolicy(deadline=60.0, first_wait=0.25, max_wait=4.0)
    with caplog.at_level(logging.WARNING, logger="admet_hpo.storage.rdb"):
        assert retry_transient(call, "get_trial", policy, sleep=waits.append) == "done"
    assert waits == [0.25, 0.5]
    assert len(caplog.records) == 2
    first = caplog.records[0].getMessage()
    assert "get_trial failed" in first and "bob:***@db" in first and "s3cret" not in first
    assert "retrying in 0.2 s" in first or "retrying in 0.3 s" in first


def test_other_errors_and_errors_past_the_deadline_are_raised() -> None:
    waits: list[float] = []

    def broken_data() -> None:
        raise wrapped(sqlalchemy.exc.DataError("INSERT", {}, PsycopgLikeError("value too long")))

    with pytest.raises(StorageInternalError):
        retry_transient(broken_data, "set_trial_user_attr", FAST, sleep=waits.append)
    assert waits == []

    def always_down() -> None:
        raise operational("x", PsycopgLikeError("connection refused"))

    with pytest.raises(sqlalchemy.exc.OperationalError, match="connection refused"):
        retry_transient(always_down, "get_trial", RetryPolicy(deadline=0.0), sleep=waits.append)
    assert waits == []


# ------------------------------------------------------------------------------------ resilient storage


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> ResilientRDBStorage:
    return open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", retry_policy=FAST)


def fail_statements(storage: RDBStorage, matching: str, times: int, message: str) -> list[str]:
    """Make the next ``times`` SQL statements containing ``matching`` fail with a sqlite3 error."""
    failed: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if matching in statement and len(failed) < times:
            failed.append(statement)
            raise sqlite3.OperationalError(message)
        return statement, parameters

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", before_execute, retval=True)
    return failed


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_calls_ride_out_transient_errors(sqlite_storage: ResilientRDBStorage) -> None:
    study = optuna.create_study(storage=sqlite_storage, study_name="s")
    failed = fail_statements(sqlite_storage, "INSERT INTO trials", 2, "database is locked")
    trial = study.ask()
    assert len(failed) == 2
    failed = fail_statements(sqlite_storage, "trial_user_attributes", 3, "database is locked")
    trial.set_user_attr("worker", "host:1")
    failed_values = fail_statements(sqlite_storage, "trial_intermediate_values", 1, "database is locked")
    trial.report(0.5, step=0)
    study.tell(trial, 0.25)
    assert len(failed) == 3 and len(failed_values) == 1
    stored = study.trials[0]
    assert (stored.state, stored.value) == (TrialState.COMPLETE, 0.25)
    assert stored.user_attrs == {"worker": "host:1"} and stored.intermediate_values == {0: 0.5}
    assert len(study.trials) == 1


def test_a_schema_error_is_not_retried(sqlite_storage: ResilientRDBStorage) -> None:
    study = optuna.create_study(storage=sqlite_storage, study_name="s")
    trial = study.ask()
    failed = fail_statements(
        sqlite_storage, "trial_user_attributes", 5, "no such table: trial_user_attributes"
    )
    with pytest.raises(StorageInternalError):
        trial.set_user_attr("worker", "host:1")
    assert len(failed) == 1


def test_a_state_change_committed_before_its_connection_dropped_succeeds_on_retry(
    sqlite_storage: ResilientRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.create_study(storage=sqlite_storage, study_name="s")
    trial = study.ask()
    original = RDBStorage.set_trial_state_values
    calls: list[TrialState] = []

    def commit_then_lose_connection(self, trial_id, state, values=None):
        calls.append(state)
        result = original(self, trial_id, state, values)
        if len(calls) == 1:
            raise wrapped(operational("x", PsycopgLikeError("server closed the connection unexpectedly")))
        return result

    monkeypatch.setattr(RDBStorage, "set_trial_state_values", commit_then_lose_connection)
    study.tell(trial, 1.5)
    assert calls == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert (study.trials[0].state, study.trials[0].value) == (TrialState.COMPLETE, 1.5)
    # Without a lost connection, changing a finished trial is still the error it always was.
    with pytest.raises(UpdateFinishedTrialError):
        sqlite_storage.set_trial_state_values(study.trials[0]._trial_id, TrialState.FAIL)


#: RDBStorage methods Optuna's layers call that run no database transaction.
NO_TRANSACTION = {"get_heartbeat_interval", "get_heartbeat_stale_trial_callback"}


def test_every_storage_call_of_optunas_cache_and_heartbeat_is_retried() -> None:
    """Fails loudly when Optuna renames or adds a (private) method its cache layer or heartbeat thread
    calls on the RDB storage: it would then escape the retries of ResilientRDBStorage."""
    import inspect
    import re

    from optuna.storages import _cached_storage, _heartbeat

    called = set(re.findall(r"_backend\.(\w+)\(", inspect.getsource(_cached_storage)))
    called |= set(re.findall(r"storage\.(\w+)\(", inspect.getsource(_heartbeat)))
    assert called, "Optuna's cache layer no longer calls its backend as self._backend.<method>(...)"
    retried = {*storage_module.RETRIED_METHODS, *storage_module.OWN_RETRIED_METHODS}
    assert called - NO_TRANSACTION <= retried, f"not retried: {sorted(called - NO_TRANSACTION - retried)}"
    assert set(dir(RDBStorage)) >= NO_TRANSACTION


def test_every_retried_method_exists_on_the_pinned_optuna() -> None:
    for name in storage_module.RETRIED_METHODS:
        assert getattr(ResilientRDBStorage, name) is not getattr(RDBStorage, name)
        assert getattr(ResilientRDBStorage, name).__wrapped__ is getattr(RDBStorage, name)
    for name in storage_module.OWN_RETRIED_METHODS:
        assert name in vars(ResilientRDBStorage) and name in dir(RDBStorage)


# ------------------------------------------------------------------------------------------ study lock


@pytest.fixture
def lock_pair(tmp_path: Path) -> Iterator[tuple[FileStudyLock, FileStudyLock]]:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    first, second = study_lock(storage, 1), study_lock(storage, 1)
    assert isinstance(first, FileStudyLock) and first.path == tmp_path / "optuna.db.lock"
    yield first, second
    first.release()
    second.release()


def test_sqlite_study_lock_excludes_other_holders_until_released(
    lock_pair: tuple[FileStudyLock, FileStudyLock],
) -> None:
    first, second = lock_pair
    first.acquire()
    acquired = threading.Event()
    waiter = threading.Thread(target=lambda: (second.acquire(), acquired.set()), daemon=True)
    waiter.start()
    assert not acquired.wait(0.3)
    first.release()
    assert acquired.wait(5.0)
    assert second.held and not first.held
    first.release()  # releasing a lock not held is a no-op
    waiter.join(1.0)


def test_in_memory_sqlite_needs_no_lock() -> None:
    started = time.monotonic()
    lock = study_lock(RDBStorage("sqlite:///:memory:"), 1)
    assert isinstance(lock, NoStudyLock)
    lock.acquire()
    lock.acquire()
    lock.release()
    assert time.monotonic() - started < 5.0


def test_a_sqlite_study_file_logs_ahead_and_syncs_at_checkpoints(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    optuna.create_study(study_name="s", storage=storage)  # works through the pooled connections
    with storage.engine.connect() as connection:
        journal, synchronous = (
            connection.execute(sqlalchemy.text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous")
        )
    assert journal == "wal" and synchronous == 1  # NORMAL (FULL is 2)
    other = sqlite3.connect(tmp_path / "optuna.db")  # the WAL mode is stored in the file
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()
    storage.engine.dispose()
