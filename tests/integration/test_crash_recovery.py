"""Workers that die or are interrupted: a SIGKILLed worker's trial is failed by its heartbeat, retried by
another worker and its MLflow run closed as FAILED; Ctrl-C of ``hpo run`` fails the running trial cleanly
and the same command resumes. Real ``hpo`` processes, real storage and MLflow stores."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import mlflow
import pytest
from optuna.trial import TrialState
from worker_support import (
    load_trials,
    postgres_database,
    running,
    start_hpo,
    wait_until,
    write_study,
)

from admet_hpo.config.study import load_study
from admet_hpo.orchestration import runner
from admet_hpo.orchestration.session import StudySession
from admet_hpo.search.objective import INTERRUPTED_ERROR
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.tracking.tracker import STALE_RUN_ERROR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

GRACE_S = 5


def _worker_name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


@pytest.mark.postgres
def test_a_killed_workers_trial_is_failed_retried_elsewhere_and_its_run_closed(tmp_path: Path) -> None:
    with postgres_database() as database:
        study_file = write_study(
            tmp_path,
            n_trials=3,
            max_epochs=20,  # the victim's trial must still run when the test has seen two heartbeats
            storage=database.url(),
            heartbeat={"interval": 1, "grace_period": GRACE_S, "max_retry": 2},
        )
        study = load_study(study_file)
        name = versioned_study_name(study)
        runner.prepare_study(StudySession(study))  # as 'hpo run' does before it starts workers
        logs = tmp_path / "logs"
        victim = start_hpo(logs, "victim", "worker", str(study_file), "--worker-index", "0", "-q")
        survivor = start_hpo(logs, "survivor", "worker", str(study_file), "--worker-index", "1", "-q")
        with running([victim, survivor]):
            seen_heartbeats: set[object] = set()

            def victim_trial_beating():
                """The victim's running trial once its MLflow run exists and two heartbeats arrived."""
                running_trials = [
                    t
                    for t in load_trials(study.storage, name)
                    if t.state == TrialState.RUNNING
                    and t.user_attrs.get("worker") == _worker_name(victim.pid)
                ]
                if not running_trials or "mlflow_run_id" not in running_trials[0].user_attrs:
                    return None
                trial = running_trials[0]
                beats = database.query(
                    "SELECT h.heartbeat FROM trial_heartbeats h JOIN trials t USING (trial_id) "
                    "WHERE t.number = %s",
                    (trial.number,),
                )
                seen_heartbeats.update((trial.number, row[0]) for row in beats)
                return trial if sum(n == trial.number for n, _ in seen_heartbeats) >= 2 else None

            killed = wait_until(victim_trial_beating, 150, "a trial of the victim sending heartbeats")
            victim.kill()  # SIGKILL: no chance to clean up
            assert survivor.wait() == 0, survivor.output()

        trials = {t.number: t for t in load_trials(study.storage, name)}
        assert trials[killed.number].state == TrialState.FAIL
        retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
        assert len(retries) == 1, "the killed trial was not re-queued exactly once"
        retry = retries[0]
        assert retry.state == TrialState.COMPLETE and retry.params == killed.params
        assert retry.user_attrs["worker"] == _worker_name(survivor.process.pid)
        assert sum(t.state in runner.FINISHED for t in trials.values()) == 3
        assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]

        client = mlflow.MlflowClient(study.mlflow_tracking_uri)
        killed_run = client.get_run(killed.user_attrs["mlflow_run_id"])
        assert killed_run.info.status == "FAILED"
        assert killed_run.data.tags["optuna.error"] == STALE_RUN_ERROR
        assert retry.user_attrs["mlflow_run_id"] != killed.user_attrs["mlflow_run_id"]
        assert client.get_run(retry.user_attrs["mlflow_run_id"]).info.status == "FINISHED"


def test_ctrl_c_fails_the_running_trial_and_the_same_command_resumes(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, n_trials=2, max_epochs=6, name="interrupted")
    study = load_study(study_file)
    name = versioned_study_name(study)
    logs = tmp_path / "logs"
    first = start_hpo(logs, "first", "run", str(study_file), "-q")
    with running([first]):

        def training() -> object:
            """The trial in its second epoch; the storage is read only once a trial has started (opening
            a SQLite file while 'hpo run' creates its schema would race with it)."""
            if not (study.output_dir / "trials").is_dir():
                return None
            trials = load_trials(study.storage, name)
            epoch_done = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
            return epoch_done[0] if epoch_done else None

        interrupted = wait_until(training, 150, "a trial in its second epoch")
        first.process.send_signal(signal.SIGINT)
        assert first.wait() == 130, first.output()
    printed = [line for line in first.stderr.read_text().splitlines() if line.strip()]
    assert len(printed) == 1 and printed[0].startswith("interrupted"), printed  # one line, no traceback

    trials = {t.number: t for t in load_trials(study.storage, name)}
    assert trials[interrupted.number].state == TrialState.FAIL
    assert trials[interrupted.number].user_attrs["error"] == INTERRUPTED_ERROR
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]
    run = mlflow.MlflowClient(study.mlflow_tracking_uri).get_run(
        trials[interrupted.number].user_attrs["mlflow_run_id"]
    )
    assert run.info.status == "FAILED"

    second = start_hpo(logs, "second", "run", str(study_file), "-q")
    with running([second]):
        assert second.wait() == 0, second.output()
    trials = {t.number: t for t in load_trials(study.storage, name)}
    assert sum(t.state in runner.FINISHED for t in trials.values()) == 2
    assert [n for n, t in trials.items() if t.state == TrialState.FAIL] == [interrupted.number]
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]


def test_a_worker_whose_trial_was_failed_elsewhere_closes_its_run_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker failed this worker's trial while it trained (as when its heartbeats could not reach
    the storage for longer than the grace period) and re-queued it: Optuna cannot tell the trial, but the
    worker closes the trial's MLflow run as FAILED, runs the re-queued copy and meets the budget."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    from admet_hpo.storage.rdb import open_storage
    from admet_hpo.training import run as training_run
    from admet_hpo.training.run import TrainingResult

    study_file = write_study(tmp_path, n_trials=2, heartbeat={"interval": 60, "max_retry": 1}, name="taken")
    study = load_study(study_file)
    runner.prepare_study(StudySession(study))
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"checkpoint")
    trainings = [0]

    def train(config, **kwargs):
        trainings[0] += 1
        if trainings[0] == 1:  # meanwhile, another worker fails this trial and re-queues it
            storage = open_storage(study.storage)
            other = optuna.load_study(study_name=versioned_study_name(study), storage=storage)
            running_trial = other.get_trials(states=(TrialState.RUNNING,))[0]
            storage.set_trial_state_values(running_trial._trial_id, TrialState.FAIL)
            RetryHeartbeatStaleTrialCallback(max_retry=1)(other, other.trials[running_trial.number])
        return TrainingResult(
            best_val_loss=0.5,
            epochs_run=1,
            history=[{"val_loss": 0.5}],
            val_metrics={},
            test_metrics={},
            checkpoint_path=checkpoint,
            model_path=checkpoint,
            data_hash="d",
            split_hash="s",
        )

    monkeypatch.setattr(training_run, "train", train)
    summary = runner.run_worker(StudySession(study), n_trials=2, timeout=None)

    assert (summary.complete, summary.failed, summary.running) == (2, 1, 0)
    trials = load_trials(study.storage, summary.study_name)
    taken, retry = trials[0], trials[1]
    assert taken.state == TrialState.FAIL and retry.system_attrs["failed_trial"] == taken.number
    assert retry.state == TrialState.COMPLETE and retry.params == taken.params
    client = mlflow.MlflowClient(study.mlflow_tracking_uri)
    taken_run = client.get_run(taken.user_attrs["mlflow_run_id"])
    assert taken_run.info.status == "FAILED"
    assert taken_run.data.tags["optuna.error"] == runner.TAKEN_OVER_ERROR
    assert client.get_run(retry.user_attrs["mlflow_run_id"]).info.status == "FINISHED"
