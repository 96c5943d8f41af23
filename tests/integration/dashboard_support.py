"""Shared by the dashboard tests: a study tracked in MLflow without training, and `hpo dashboard` run as a
real subprocess (the command a person types) with bounded start-up and guaranteed cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
#: Trial number -> final state of the fake study: every state a finished trial can have.
TRIAL_STATES = {0: "COMPLETE", 1: "PRUNED", 2: "COMPLETE", 3: "FAIL"}


@dataclass(frozen=True)
class TrackedStudy:
    """A study file, its Optuna storage and MLflow store, and what each trial recorded."""

    study_file: Path
    storage: str
    tracking_uri: str
    study_name: str
    experiment_id: str  # the study's MLflow experiment
    run_ids: dict[int, str]  # trial number -> MLflow run id
    notes: dict[int, str]  # trial number -> Markdown note saved for the dashboard


def build_tracked_study(directory: Path, *, tracking_server: str | None = None) -> TrackedStudy:
    """Write a study file in ``directory``, create its (versioned) Optuna study in SQLite and run four fake
    trials (states :data:`TRIAL_STATES`) through the real :class:`StudyTracker` into a SQLite MLflow store,
    each with a dashboard note made as the runner makes it. The note links to the run's artifacts
    (``StudyTracker.run_link`` for a SQLite store), or, with ``tracking_server``, to the run's page on
    that server (what ``run_link`` returns for an ``http`` tracking URI)."""
    import optuna
    from optuna.trial import TrialState

    from admet_hpo.config.study import load_study
    from admet_hpo.search.versioning import versioned_study_name
    from admet_hpo.tracking.notes import dashboard_note, save_trial_note, trial_run_url
    from admet_hpo.tracking.store import ensure_tracking_store
    from admet_hpo.tracking.tracker import StudyTracker

    study_file = directory / "dash.yaml"
    study_file.write_text(
        "name: dash\n"
        f"search_spaces: [{REPO / 'search_spaces' / 'joint_sampler.yaml'}]\n"
        "data: {dataset: demo}\n"
        "n_trials: 4\n"
        "storage: sqlite:///optuna.db\n"
        "mlflow: {tracking_uri: sqlite:///mlflow.db}\n"
    )
    study = load_study(study_file)
    name = versioned_study_name(study)
    ensure_tracking_store(study.mlflow_tracking_uri)
    optuna_study = optuna.create_study(
        study_name=name, storage=study.storage, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    tracker = StudyTracker(study.mlflow_tracking_uri)
    tracker.start_study(optuna_study, storage_url=study.storage)
    run_ids: dict[int, str] = {}
    notes: dict[int, str] = {}
    for number, state_name in TRIAL_STATES.items():
        trial = optuna_study.ask()
        alpha = trial.suggest_float("sampling.task_oversampling.alpha", 0.0, 1.0)
        run_id = tracker.start_trial(trial)
        state = TrialState[state_name]
        value = None if state == TrialState.FAIL else 0.5 + alpha
        tracker.finish_trial(run_id, state, value=value, error="fake failure" if value is None else None)
        if tracking_server is None:
            link = tracker.run_link(run_id)
        else:
            link = trial_run_url(tracking_server, tracker.experiment_id, run_id)
        notes[number] = dashboard_note(trial.number, {"val_loss": value or float("nan")}, run_id, link)
        save_trial_note(trial, notes[number])
        optuna_study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        run_ids[number] = run_id
    return TrackedStudy(
        study_file, study.storage, study.mlflow_tracking_uri, name, tracker.experiment_id, run_ids, notes
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body (HTTP errors raise)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def dashboard_processes(port: int) -> list[int]:
    """Ids of live optuna-dashboard processes (gunicorn workers included) started for ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        executable_named = any(arg.endswith(b"optuna-dashboard") for arg in argv[:2])
        if executable_named and b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode():
            found.append(int(entry.name))
    return found


@dataclass
class RunningDashboard:
    """``hpo dashboard`` running as a subprocess; its output is in ``stdout_path`` / ``stderr_path``."""

    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def interrupt(self) -> int:
        """Press Ctrl-C (SIGINT to ``hpo``) and return its exit status (bounded wait)."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def hpo_dashboard(
    arguments: list[str], port: int, log_dir: Path, *, sigint_ignored: bool = False
) -> Iterator[RunningDashboard]:
    """Run ``hpo dashboard <arguments> --port <port>`` until ``/api/studies`` answers (at most
    :data:`STARTUP_TIMEOUT_S`), yield it, and make sure that ``hpo`` and every dashboard process it
    started are gone afterwards, whatever the test did. ``sigint_ignored`` starts ``hpo`` with SIGINT
    ignored, as a shell script's background job is."""
    hpo = Path(sys.executable).with_name("hpo")
    stdout_path, stderr_path = log_dir / "hpo-dashboard.out", log_dir / "hpo-dashboard.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(hpo), "dashboard", *arguments, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "COLUMNS": "200"},
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
        )
    running = RunningDashboard(process, port, stdout_path, stderr_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            with contextlib.suppress(urllib.error.URLError, OSError):
                get_json(f"{running.base_url}/api/studies")
                if "optuna-dashboard: " in stdout_path.read_text():  # hpo prints once the dashboard answers
                    break
            if process.poll() is not None:
                raise AssertionError(f"hpo dashboard exited ({process.returncode}):\n{running.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer within {STARTUP_TIMEOUT_S} s:\n{running.output()}")
            time.sleep(0.25)
        yield running
    finally:
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.interrupt()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        for pid in dashboard_processes(port):  # left behind only if hpo failed to stop them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
