"""Launching worker processes on one machine: their command lines, environment and go signal."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from admet_hpo.orchestration import launcher
from admet_hpo.orchestration.session import StudySession


class FinishedProcess:
    """A worker process that has already exited, with the standard input the launcher writes to."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command, self.env, self.returncode = command, env, 0
        self.stdin = io.StringIO()
        self.written = ""
        self.stdin.close = self._close  # type: ignore[method-assign]

    def _close(self) -> None:
        self.written = self.stdin.getvalue()
        io.StringIO.close(self.stdin)

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[FinishedProcess]:
    started: list[FinishedProcess] = []

    def popen(command: list[str], env: dict[str, str], stdin: int, text: bool) -> FinishedProcess:
        assert stdin == subprocess.PIPE and text
        started.append(FinishedProcess(command, env))
        return started[-1]

    monkeypatch.setattr(launcher.subprocess, "Popen", popen)
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
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 8)
    workers = launcher.start_workers(SESSION, 3, n_trials=6, timeout=None)
    workers.go()
    assert workers.wait() == [0, 0, 0]
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["2", "2", "2"]
    assert all(p.env["ADMET_HPO_STORAGE"] == "postgresql://db/x" for p in launched)
    assert all(p.env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" for p in launched)
    assert all(p.env["ADMET_HPO_OUTPUT"] == "/runs/s" for p in launched)
    assert [p.command[p.command.index("--worker-index") + 1] for p in launched] == ["0", "1", "2"]
    assert all("--launched" in p.command and p.command[-2:] == ["--n-trials", "6"] for p in launched)


def test_more_workers_than_cores_get_one_thread_and_an_explicit_setting_wins(
    launched: list[FinishedProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 2)
    launcher.start_workers(SESSION, 3, n_trials=None, timeout=5.0)
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["1"] * 3
    assert all(p.command[-2:] == ["--timeout", "5.0"] for p in launched)
    launched.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    launcher.start_workers(SESSION, 2, n_trials=None, timeout=None)
    assert [p.env["OMP_NUM_THREADS"] for p in launched] == ["4", "4"]


def test_go_sends_the_go_line_and_abort_closes_the_input_without_it(launched: list[FinishedProcess]) -> None:
    launcher.start_workers(SESSION, 2, n_trials=2, timeout=None).go()
    assert [p.written for p in launched] == [launcher.GO + "\n"] * 2
    assert all(launcher.wait_for_go(io.StringIO(p.written)) for p in launched)
    launched.clear()
    launcher.start_workers(SESSION, 2, n_trials=2, timeout=None).abort()
    assert [p.written for p in launched] == ["", ""]
    assert not any(launcher.wait_for_go(io.StringIO(p.written)) for p in launched)


def test_a_launched_worker_whose_launcher_gives_up_ends_without_opening_the_study(tmp_path: Path) -> None:
    study_file = tmp_path / "missing.yaml"  # never read: the worker ends before it opens the study
    command = launcher.worker_command(study_file, n_trials=1, timeout=None, index=0)
    done = subprocess.run(command, input="", capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "missing.yaml" not in done.stdout + done.stderr
    assert not list(tmp_path.iterdir())
    assert command[:3] == [sys.executable, "-m", "admet_hpo"]
