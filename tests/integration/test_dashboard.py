"""`hpo dashboard`: the real optuna-dashboard process serving a real SQLite study tracked in a real MLflow
store (fake objective, no training), its HTTP API, stopping it, and every error path of the command."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_support import (
    TRIAL_STATES,
    TrackedStudy,
    build_tracked_study,
    dashboard_processes,
    free_port,
    get_json,
    hpo_dashboard,
)
from mlflow import MlflowClient
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.orchestration import dashboard
from admet_hpo.orchestration.dashboard import (
    DashboardError,
    dashboard_command_line,
    is_loopback,
    running_dashboard,
    write_dashboard_config,
)

RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> TrackedStudy:
    return build_tracked_study(tmp_path_factory.mktemp("dashboard-study"))


def _study_id(base_url: str, study_name: str) -> int:
    summaries = get_json(f"{base_url}/api/studies")["study_summaries"]
    return {summary["study_name"]: summary["study_id"] for summary in summaries}[study_name]


def _nothing_listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# ------------------------------------------------------------------------------ the real dashboard process


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_dashboard_serves_every_trial_with_its_mlflow_run(tracked: TrackedStudy, tmp_path: Path) -> None:
    port = free_port()
    arguments = ["--storage", tracked.storage, "--server", "wsgiref"]
    with hpo_dashboard(arguments, port, tmp_path, sigint_ignored=True) as running:
        study_id = _study_id(running.base_url, tracked.study_name)
        detail = get_json(f"{running.base_url}/api/studies/{study_id}")
        trials = {trial["number"]: trial for trial in detail["trials"]}
        assert sorted(trials) == sorted(TRIAL_STATES)
        client = MlflowClient(tracked.tracking_uri)
        for number, trial in trials.items():
            user_attrs = {attr["key"]: attr["value"] for attr in trial["user_attrs"]}
            run_id = user_attrs["mlflow_run_id"]
            assert run_id == tracked.run_ids[number]
            assert trial["state"] == TRIAL_STATES[number].capitalize()
            run = client.get_run(run_id)
            assert run.data.tags["optuna.trial_number"] == str(number)
            assert run.data.tags["optuna.study_name"] == tracked.study_name
            assert run.info.status == RUN_STATUS[TRIAL_STATES[number]]
            assert trial["note"]["body"] == tracked.notes[number]
            assert f"MLflow run: `{run_id}` (artifacts: `{run.info.artifact_uri}`)" in trial["note"]["body"]

        output = running.stdout_path.read_text()
        assert f"optuna-dashboard: {running.base_url}/dashboard\n" in output
        assert f"studies: {tracked.study_name}" in output
        assert f"storage: {tracked.storage}" in output

        # The storage URL (it may hold a password) is not on the dashboard's command line, and the private
        # config file naming it is gone once the dashboard answers.
        (pid, *_) = dashboard_processes(port)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert not any("optuna.db" in arg for arg in argv)
        assert argv[argv.index("--server") + 1] == "wsgiref"
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        assert not Path(argv[argv.index("--from-config") + 1]).exists()

        assert running.interrupt() == 0  # Ctrl-C stops it, even when started with SIGINT ignored
        assert "dashboard stopped" in running.stdout_path.read_text()
        assert dashboard_processes(port) == []
        assert _nothing_listens(port)


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_dashboard_of_a_study_file_links_its_versioned_study(tracked: TrackedStudy, tmp_path: Path) -> None:
    port = free_port()
    with hpo_dashboard([str(tracked.study_file), "--server", "wsgiref"], port, tmp_path) as running:
        study_id = _study_id(running.base_url, tracked.study_name)
        output = running.stdout_path.read_text()
        assert f"optuna-dashboard: {running.base_url}/dashboard/studies/{study_id}\n" in output
        assert f"study:   {tracked.study_name}\n" in output
        detail = get_json(f"{running.base_url}/api/studies/{study_id}")
        assert detail["name"] == tracked.study_name
        assert len(detail["trials"]) == len(TRIAL_STATES)

        running.process.terminate()  # SIGTERM stops the dashboard as Ctrl-C does
        assert running.process.wait(timeout=20) == 0
        assert dashboard_processes(port) == []
        assert _nothing_listens(port)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_dashboard_that_exits_before_serving_is_reported(tracked: TrackedStudy) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", port))
        occupant.listen()
        with (
            pytest.raises(DashboardError, match=r"exited with status \d+ before serving"),
            running_dashboard(tracked.storage, "127.0.0.1", port, "wsgiref"),
        ):
            pass
    assert dashboard_processes(port) == []


def test_a_dashboard_that_does_not_answer_in_time_is_stopped(tracked: TrackedStudy) -> None:
    port = free_port()
    with (
        pytest.raises(DashboardError, match="did not answer within 0 s"),
        running_dashboard(tracked.storage, "127.0.0.1", port, "wsgiref", startup_timeout=0),
    ):
        pass
    assert dashboard_processes(port) == []


# ---------------------------------------------------------------------------------- command-line behaviour


def _hpo(*arguments: str):
    return CliRunner().invoke(app, ["dashboard", *arguments], env={"COLUMNS": "300"})


def test_neither_study_file_nor_storage_is_an_error() -> None:
    result = _hpo()
    assert result.exit_code == 2
    assert "give a study file (hpo dashboard STUDY.yaml) or --storage URL" in result.output


def test_missing_sqlite_storage_is_reported_and_not_created(tmp_path: Path) -> None:
    database = tmp_path / "absent" / "optuna.db"
    result = _hpo("--storage", f"sqlite:///{database}")
    assert result.exit_code == 2
    assert f"no study storage at {database} (run 'hpo run STUDY.yaml' first" in result.output
    assert not database.parent.exists()


def test_missing_storage_of_a_study_file_is_reported(tracked: TrackedStudy, tmp_path: Path) -> None:
    study_file = tmp_path / "elsewhere.yaml"
    study_file.write_text(tracked.study_file.read_text())
    result = _hpo(str(study_file))
    assert result.exit_code == 2
    assert f"no study storage at {tmp_path / 'optuna.db'}" in result.output
    assert not (tmp_path / "optuna.db").exists()


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("not a url", "not a database URL"),
        ("sqlite://", "an in-memory SQLite database holds no studies"),
        ("sqlite:///:memory:", "an in-memory SQLite database holds no studies"),
    ],
)
def test_unusable_storage_urls(storage: str, message: str) -> None:
    result = _hpo("--storage", storage)
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_not_an_optuna_storage(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = _hpo("--storage", f"sqlite:///{empty}")
    assert result.exit_code == 2
    assert f"storage sqlite:///{empty}: cannot be read as an Optuna storage" in result.output
    assert empty.stat().st_size == 0  # nothing was written to it


def test_unreachable_server_storage_masks_its_password() -> None:
    result = _hpo("--storage", "postgresql+psycopg://hpo:hunter2@127.0.0.1:1/optuna?connect_timeout=2")
    assert result.exit_code == 2
    assert "storage postgresql+psycopg://hpo:***@127.0.0.1:1/optuna" in result.output
    assert "cannot be read as an Optuna storage" in result.output
    assert "hunter2" not in result.output


def test_non_loopback_host_needs_allow_remote(tracked: TrackedStudy) -> None:
    result = _hpo("--storage", tracked.storage, "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "--host 0.0.0.0 is not a loopback address" in result.output
    assert "pass --allow-remote" in result.output


def test_port_in_use_is_reported(tracked: TrackedStudy) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        result = _hpo("--storage", tracked.storage, "--port", str(port))
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in result.output


class _FinishedDashboard:
    """Stands in for the dashboard process in command-line tests: exits with ``status`` when waited for."""

    def __init__(self, status: int) -> None:
        self.status = status

    def wait(self) -> int:
        return self.status


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace the dashboard launch by a recorder; the fake dashboard exits 0 (or 1 for port 9999)."""
    calls: list[tuple] = []

    @contextlib.contextmanager
    def fake(storage: str, host: str, port: int, server: str = "auto") -> Iterator[_FinishedDashboard]:
        calls.append((storage, host, port, server))
        yield _FinishedDashboard(1 if port == 9999 else 0)

    monkeypatch.setattr(dashboard, "running_dashboard", fake)
    monkeypatch.setattr(dashboard, "ensure_port_free", lambda host, port: None)
    return calls


def test_allow_remote_warns_that_the_storage_is_writable(tracked: TrackedStudy, launches: list) -> None:
    result = _hpo("--storage", tracked.storage, "--host", "0.0.0.0", "--allow-remote", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert launches == [(tracked.storage, "0.0.0.0", 8123, "auto")]
    assert "warning: listening on 0.0.0.0: anyone who reaches port 8123 can create, rename and delete" in (
        result.output
    )


def test_study_not_yet_in_storage_warns_and_lists_the_versions_there(
    tracked: TrackedStudy, launches: list, tmp_path: Path
) -> None:
    study_file = tmp_path / "other.yaml"
    other_space = Path(__file__).resolve().parents[2] / "search_spaces" / "model_small.yaml"
    study_file.write_text(tracked.study_file.read_text().replace("joint_sampler.yaml", other_space.name))
    result = _hpo(str(study_file), "--storage", tracked.storage)
    assert result.exit_code == 0, result.output
    assert f"is not in the storage yet (run 'hpo run {study_file}'); studies: {tracked.study_name}" in (
        result.output
    )
    assert "optuna-dashboard: http://127.0.0.1:8080/dashboard\n" in result.output


def test_a_dashboard_exiting_with_an_error_fails_the_command(tracked: TrackedStudy, launches: list) -> None:
    result = _hpo("--storage", tracked.storage, "--port", "9999")
    assert result.exit_code == 1
    assert "optuna-dashboard exited with status 1" in result.output


# --------------------------------------------------------------------------------------- launch helpers


def test_config_file_carries_the_storage_privately(tmp_path: Path) -> None:
    storage = 'postgresql+psycopg://hpo:p"a\\s\ns\x7fé@db/optuna'
    path = write_dashboard_config(storage, tmp_path)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {"optuna_dashboard": {"storage": storage}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never written through a file or link someone else placed there
        write_dashboard_config(storage, tmp_path)


def test_command_line_runs_the_console_script_of_this_environment(tmp_path: Path) -> None:
    command = dashboard_command_line(tmp_path / "c.toml", "::1", 8081, "gunicorn")
    assert command[0] == str(Path(sys.executable).with_name("optuna-dashboard"))
    assert os.access(command[0], os.X_OK)
    assert command[1:] == [
        *("--from-config", str(tmp_path / "c.toml")),
        *("--host", "::1"),
        *("--port", "8081"),
        *("--server", "gunicorn"),
    ]


def test_missing_console_script_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(DashboardError, match="optuna-dashboard is not installed in the environment of"):
        dashboard_command_line(tmp_path / "c.toml", "127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("dashboard.example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
