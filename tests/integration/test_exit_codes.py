"""Exit codes that tell the truth: real ``hpo`` processes on real studies whose every trial fails.

Every trial fails for a reason no validation at load can see: the study's ``trials`` output folder is a
regular file, so each trial fails creating its own folder inside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from worker_support import load_trials, running, start_hpo, wait_until, worker_environment, write_study

from admet_hpo.config.study import Study, load_study
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.tracking.keys import PARENT_RUN_ATTR

pytestmark = pytest.mark.integration


def failing_study(folder: Path, n_trials: int = 1) -> tuple[Path, Study]:
    """A tiny study whose every trial fails (its trials folder is a file)."""
    study_file = write_study(folder, n_trials=n_trials, max_epochs=2, name="failing")
    mapping = yaml.safe_load(study_file.read_text(encoding="utf-8"))
    mapping["nightly"] = {"n_trials": 1, "warm_start_top_k": 0}
    study_file.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    study = load_study(study_file)
    study.output_dir.mkdir(parents=True)
    (study.output_dir / "trials").write_text("not a folder", encoding="utf-8")
    return study_file, study


def parent_run_status(study: Study, study_name: str | None = None) -> str:
    name = study_name or versioned_study_name(study)
    parent = optuna.load_study(study_name=name, storage=study.storage).user_attrs[PARENT_RUN_ATTR]
    return mlflow.MlflowClient(study.mlflow_tracking_uri).get_run(parent).info.status


def test_hpo_run_whose_every_trial_fails_exits_1_and_closes_the_parent_run_failed(tmp_path: Path) -> None:
    study_file, study = failing_study(tmp_path)
    process = start_hpo(tmp_path / "logs", "run", "run", str(study_file), "-q")
    with running([process]):
        assert process.wait() == 1, process.output()
    # a study whose every trial fails still ends: twice the remaining budget of starts
    assert [t.state for t in load_trials(study.storage, versioned_study_name(study))] == [TrialState.FAIL] * 2
    assert "error: all 2 trial(s) of this invocation failed" in process.stderr.read_text()
    assert parent_run_status(study) == "FAILED"


def test_hpo_run_exits_1_when_a_launched_worker_fails(tmp_path: Path) -> None:
    study_file, study = failing_study(tmp_path, n_trials=1)
    process = start_hpo(tmp_path / "logs", "run", "run", str(study_file), "-q", "--workers", "2")
    with running([process]):
        assert process.wait() == 1, process.output()
    err = process.stderr.read_text()
    assert "error: worker(s) 0 (status 1), 1 (status 1) failed" in err, err
    assert parent_run_status(study) == "FAILED"


def test_hpo_worker_and_hpo_nightly_whose_every_trial_fails_exit_1(tmp_path: Path) -> None:
    study_file, study = failing_study(tmp_path)
    logs = tmp_path / "logs"
    worker = start_hpo(logs, "worker", "worker", str(study_file), "-q")
    with running([worker]):
        assert worker.wait() == 2, worker.output()  # no study yet: a user error, not a failed trial
    nightly = start_hpo(logs, "nightly", "nightly", str(study_file), "-q", "--date", "2026-05-01")
    with running([nightly]):
        assert nightly.wait() == 1, nightly.output()
    assert "error: all 2 trial(s) of night 2026-05-01 failed" in nightly.stderr.read_text()
    assert parent_run_status(study) == "FAILED"
    worker = start_hpo(logs, "worker2", "worker", str(study_file), "-q", "--n-trials", "2")
    with running([worker]):
        assert worker.wait() == 1, worker.output()
    assert "error: all 4 trial(s) of this invocation failed" in worker.stderr.read_text()


def test_ctrl_c_in_a_terminal_running_workers_prints_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the launcher and its workers at once (one process group, as in a terminal)."""
    study_file = write_study(tmp_path, n_trials=2, max_epochs=6, name="interrupted")
    study = load_study(study_file)
    name = versioned_study_name(study)
    stderr = tmp_path / "run.err"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "admet_hpo", "run", str(study_file), "-q", "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=worker_environment(),
            start_new_session=True,  # its own process group, which the terminal's Ctrl-C signals
        )
    try:

        def training() -> bool:
            if not (study.output_dir / "trials").is_dir():
                return False
            trials = load_trials(study.storage, name)
            return any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials)

        wait_until(training, 150, "a trial in its second epoch")
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=180) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    text = stderr.read_text()
    warning = "several workers on SQLite serialise their writes"  # printed at start (wrapped), not by Ctrl-C
    assert warning in " ".join(text.split())
    after = text[text.index("for many workers") + len("for many workers") :]
    printed = [line for line in after.splitlines() if line.strip()]
    assert len(printed) == 1 and printed[0].startswith("interrupted"), printed
    assert not [t for t in load_trials(study.storage, name) if t.state == TrialState.RUNNING]
