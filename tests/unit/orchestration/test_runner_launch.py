"""Launching worker processes on one machine: their command lines and environment."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from admet_hpo.orchestration import runner
from admet_hpo.orchestration.session import StudySession


class FinishedProcess:
    """A worker process that has already exited."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command, self.env, self.returncode = command, env, 0

    def poll(self) -> int:
        return self.returncode


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[FinishedProcess]:
    started: list[FinishedProcess] = []

    def popen(command: list[str], env: dict[str, str]) -> FinishedProcess:
        started.append(FinishedProcess(command, env))
        return started[-1]

    monkeypatch.setattr(runner.subprocess, "Popen", popen)
    return started


STUDY = SimpleNamespace(
    source=Path("studies/s.yaml"),
    storage="postgresql://db/x",
    mlflow_tracking_uri="http://mlflow:5000",
    output_dir=Path("/runs/s"),
)
SESSION = StudySession(STUDY)  # type: ignore[arg-type]


def test_workers_share_the_cores_and_get_the_resolved_locations(
    launched: list[FinishedProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 8)
    codes = runner.launch_workers(SESSION, 3, n_trials=6, timeout=None)
    assert codes == [0, 0, 0]
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["2", "2", "2"]
    assert all(p.env["ADMET_HPO_STORAGE"] == "postgresql://db/x" for p in launched)
    assert all(p.env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" for p in launched)
    assert all(p.env["ADMET_HPO_OUTPUT"] == "/runs/s" for p in launched)
    assert [p.command[p.command.index("--worker-index") + 1] for p in launched] == ["0", "1", "2"]
    assert all(p.command[-2:] == ["--n-trials", "6"] for p in launched)


def test_more_workers_than_cores_get_one_thread_and_an_explicit_setting_wins(
    launched: list[FinishedProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    runner.launch_workers(SESSION, 3, n_trials=None, timeout=5.0)
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["1"] * 3
    assert all(p.command[-2:] == ["--timeout", "5.0"] for p in launched)
    launched.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    runner.launch_workers(SESSION, 2, n_trials=None, timeout=None)
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["4", "4"]
