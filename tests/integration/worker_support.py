"""Shared by the multi-worker and crash-recovery tests: a throw-away PostgreSQL database, a tiny real
study file, ``hpo`` commands as real subprocesses (bounded waits, always cleaned up) and readers of what
the storage and the MLflow store recorded."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

PG_HOST, PG_PORT, PG_ADMIN_USER = "127.0.0.1", 5432, "postgres"
#: Longest wait for one worker process (start-up ~15-30 s on a loaded 2-core machine, then tiny trials).
PROCESS_TIMEOUT_S = 180.0

SPACE = {
    "parameters": {
        "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1.0e-4, "high": 5.0e-3, "log": True},
        "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0},
    }
}


def _admin_connection(database: str = "postgres"):
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_ADMIN_USER, dbname=database, connect_timeout=3, autocommit=True
    )


def pg_url(database: str, user: str = PG_ADMIN_USER, password: str | None = None) -> str:
    """SQLAlchemy URL of ``database`` on the test server (``user:password@`` when a password is given)."""
    credentials = user if password is None else f"{user}:{password}"
    return f"postgresql+psycopg://{credentials}@{PG_HOST}:{PG_PORT}/{database}"


@dataclass(frozen=True)
class PostgresDatabase:
    """A database created for one test on the local server; ``admin`` runs SQL as the superuser."""

    name: str

    def url(self, user: str = PG_ADMIN_USER, password: str | None = None) -> str:
        return pg_url(self.name, user, password)

    def admin(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` in the server's ``postgres`` database; the rows it returns (if any)."""
        with _admin_connection() as connection:
            cursor = connection.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` in this database; its rows."""
        with _admin_connection(self.name) as connection:
            cursor = connection.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def terminate_connections(self, application_name: str | None = None) -> int:
        """``pg_terminate_backend`` every other connection to this database (of one application); how
        many were terminated."""
        sql = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s"
        )
        params: tuple[Any, ...] = (self.name,)
        if application_name is not None:
            sql += " AND application_name = %s"
            params += (application_name,)
        return int(self.admin(sql + " AND pid <> pg_backend_pid()", params)[0][0])

    def allow_connections(self, allowed: bool) -> None:
        """Refuse (or accept again) new connections to this database, as while a server restarts."""
        self.admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {str(allowed).lower()}')


@contextlib.contextmanager
def postgres_database(prefix: str = "admet_hpo") -> Iterator[PostgresDatabase]:
    """Create ``<prefix>_<random>`` on the local server and drop it afterwards (its connections first);
    skip the test when the server cannot be reached."""
    import psycopg

    try:
        _admin_connection().close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as {PG_ADMIN_USER}: {exc}")
    database = PostgresDatabase(f"{prefix}_{secrets.token_hex(4)}")
    database.admin(f'CREATE DATABASE "{database.name}"')
    try:
        yield database
    finally:
        database.allow_connections(True)
        database.terminate_connections()
        database.admin(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_role(databases: list[PostgresDatabase], password: str) -> Iterator[str]:
    """A login role with ``password`` that may create tables in ``databases``; dropped afterwards (the
    server trusts local connections, so the password is carried but not checked)."""
    role = f"hpo_{secrets.token_hex(4)}"
    databases[0].admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        for database in databases:
            database.admin(f'GRANT ALL PRIVILEGES ON DATABASE "{database.name}" TO {role}')
            database.query(f"GRANT ALL ON SCHEMA public TO {role}")
        yield role
    finally:
        for database in databases:
            database.terminate_connections()
            database.query(f"DROP OWNED BY {role}")
        databases[0].admin(f"DROP ROLE IF EXISTS {role}")


def write_study(
    folder: Path,
    *,
    n_trials: int,
    max_epochs: int = 3,
    storage: str | None = None,
    tracking_uri: str | None = None,
    heartbeat: dict[str, int] | None = None,
    name: str = "workers",
) -> Path:
    """A tiny real study (demo data, hidden 16, depth 2, random sampler, no pruning) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    study: dict[str, Any] = {
        "name": name,
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1, "init_lr": 1.0e-6},
            "trainer": {"max_epochs": max_epochs, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random", "seed": 7},
        "pruner": {"type": "none"},
        "n_trials": n_trials,
        "output_dir": "out",
    }
    if storage is not None:
        study["storage"] = storage
    if tracking_uri is not None:
        study["mlflow"] = {"tracking_uri": tracking_uri}
    if heartbeat is not None:
        study["heartbeat"] = heartbeat
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@dataclass
class HpoProcess:
    """An ``hpo`` command running as a subprocess, its output captured in files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = PROCESS_TIMEOUT_S) -> int:
        """The exit code; the process is killed (and the test fails) if it runs longer than ``timeout``."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"hpo (pid {self.pid}) did not finish within {timeout:.0f} s:\n{self.output()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server a test starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_environment() -> dict[str, str]:
    """The test's environment for ``hpo`` subprocesses: one torch thread each (the machine is shared)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _as_in_a_terminal() -> None:
    """In the child before it runs Python: Ctrl-C handled by default, as in a terminal (a test runner
    started in the background inherits SIGINT ignored, and Python keeps it ignored then)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_hpo(logs: Path, label: str, *arguments: str) -> HpoProcess:
    """Start ``python -m admet_hpo <arguments>``; stdout and stderr go to ``logs/<label>.out|err``."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / f"{label}.out", logs / f"{label}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "admet_hpo", *arguments],
            stdout=out,
            stderr=err,
            env=worker_environment(),
            preexec_fn=_as_in_a_terminal,
        )
    return HpoProcess(process, stdout, stderr)


@contextlib.contextmanager
def running(processes: list[HpoProcess]) -> Iterator[list[HpoProcess]]:
    """Yield ``processes``; whatever happens, none is left running afterwards."""
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def load_trials(storage: str, study_name: str) -> list[Any]:
    """Every trial of the study as stored now (a fresh storage connection, no cache)."""
    import optuna

    from admet_hpo.storage.rdb import open_storage

    storage_object = open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=storage_object).get_trials()
    finally:
        storage_object.engine.dispose()


def mlflow_trial_runs(tracking_uri: str, study_name: str) -> list[Any]:
    """The MLflow child runs of the study's trials (every status)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study_name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [run for run in runs if run.data.tags.get("admet_hpo.role") == "trial"]
