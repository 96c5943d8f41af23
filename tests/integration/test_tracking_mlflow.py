"""StudyTracker against a real MLflow SQLite store and real Optuna SQLite storage (fake objective)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import mlflow.store.db.utils
import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from admet_hpo.errors import ConfigError
from admet_hpo.tracking.keys import (
    PARENT_RUN_ATTR,
    RUN_ID_ATTR,
)
from admet_hpo.tracking.store import ensure_tracking_store
from admet_hpo.tracking.tracker import (
    STALE_RUN_ERROR,
    StudyTracker,
)

pytestmark = pytest.mark.integration

SECRET = "hunter2"
STORAGE_WITH_PASSWORD = f"postgresql+psycopg://hpo:{SECRET}@db.internal:5432/optuna"
MASKED_STORAGE = "postgresql+psycopg://hpo:***@db.internal:5432/optuna"
EXPECTED_STATES = {0: TrialState.COMPLETE, 1: TrialState.PRUNED, 2: TrialState.FAIL, 3: TrialState.COMPLETE}


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One initialised MLflow store for the module; each test uses its own study (= experiment)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    ensure_tracking_store(uri)
    return uri


def _storage_url(directory: Path) -> str:
    return f"sqlite:///{directory}/optuna.db"


def _objective(tracker: StudyTracker, checkpoint: Path):
    """What the runner does per trial, with a fake training loop: trial 1 prunes, trial 2 raises."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("storage", [STORAGE_WITH_PASSWORD])
        run_id = tracker.start_trial(trial)
        tracker.log_config(
            run_id, {"storage": STORAGE_WITH_PASSWORD, "model": {"depth": 3}, "data": checkpoint}
        )
        tracker.log_lineage(run_id, data_hash="d" * 16, split_hash="s" * 16)
        loss = float("nan")
        try:
            for epoch in range(3):
                loss = x + 1.0 / (epoch + 1)
                tracker.log_epoch_metrics(
                    run_id, {"train_loss": 2 * loss, "val/rmse/Caco-2 (Papp)": loss}, epoch
                )
                trial.report(loss, epoch)
                if trial.number == 1 and epoch == 1:
                    raise optuna.TrialPruned()
            if trial.number == 2:
                raise RuntimeError(f"lost connection to {STORAGE_WITH_PASSWORD}")
        except optuna.TrialPruned:
            tracker.finish_trial(run_id, TrialState.PRUNED, value=loss)
            raise
        except Exception as exc:
            tracker.finish_trial(run_id, TrialState.FAIL, error=str(exc))
            raise
        tracker.log_final_metrics(run_id, {"test/rmse/logD": x})
        tracker.log_checkpoint(run_id, checkpoint)
        tracker.finish_trial(run_id, TrialState.COMPLETE, value=loss)
        return loss

    return objective


@pytest.fixture(scope="module")
def finished_study(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory):
    """A study of four trials (COMPLETE, PRUNED, FAIL, COMPLETE) run in two threads, plus its plots."""
    directory = tmp_path_factory.mktemp("study")
    checkpoint = directory / "best.ckpt"
    checkpoint.write_bytes(b"weights")
    study = optuna.create_study(
        study_name="lifecycle", storage=_storage_url(directory), sampler=optuna.samplers.RandomSampler(seed=1)
    )
    tracker = StudyTracker(tracking_uri)
    parent = tracker.start_study(
        study, storage_url=STORAGE_WITH_PASSWORD, tags={"study_file": "studies/q.yaml"}
    )
    study.optimize(_objective(tracker, checkpoint), n_trials=4, n_jobs=2, catch=(RuntimeError,))
    plots = tracker.log_study_plots(parent, study)
    return study, tracker, plots


def test_one_experiment_one_parent_and_one_child_per_trial(finished_study, tracking_uri: str) -> None:
    study, tracker, _ = finished_study
    client = MlflowClient(tracking_uri)
    experiments = client.search_experiments(filter_string="name = 'lifecycle'")
    assert [experiment.experiment_id for experiment in experiments] == [tracker.experiment_id]
    runs = client.search_runs([tracker.experiment_id])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert (
        [run.info.run_id for run in parents] == [study.user_attrs[PARENT_RUN_ATTR]] == [tracker.parent_run_id]
    )
    assert parents[0].data.tags["optuna.study_name"] == "lifecycle"
    assert parents[0].data.tags["optuna.sampler"] == "RandomSampler"
    assert parents[0].data.tags["study_file"] == "studies/q.yaml"
    children = {run.info.run_id for run in runs} - {tracker.parent_run_id}
    assert children == {trial.user_attrs[RUN_ID_ATTR] for trial in study.trials}
    assert len(children) == 4


def test_child_runs_follow_their_trials(finished_study, tracking_uri: str) -> None:
    study, tracker, _ = finished_study
    client = MlflowClient(tracking_uri)
    status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
    assert {trial.number: trial.state for trial in study.trials} == EXPECTED_STATES
    for trial in study.trials:
        run = client.get_run(trial.user_attrs[RUN_ID_ATTR])
        tags = run.data.tags
        assert run.info.status == status[trial.state]
        assert tags["mlflow.parentRunId"] == tracker.parent_run_id
        assert tags["optuna.study_name"] == "lifecycle"
        assert tags["optuna.trial_number"] == str(trial.number)
        assert tags["optuna.state"] == trial.state.name
        assert tags["mlflow.runName"] == f"trial-{trial.number}"
        assert run.data.params["x"] == str(trial.params["x"])
        assert tags["lineage.data_hash"] == "d" * 16
        assert tags["lineage.version.optuna"] == optuna.__version__
        assert tags["lineage.git_commit"] == (tracker.lineage.git_commit or "unknown")
        history = client.get_metric_history(run.info.run_id, "val/rmse/Caco-2 _Papp_")
        expected_steps = {
            TrialState.COMPLETE: [0, 1, 2],
            TrialState.PRUNED: [0, 1],
            TrialState.FAIL: [0, 1, 2],
        }
        assert sorted(metric.step for metric in history) == expected_steps[trial.state]
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["trial_value"] == pytest.approx(trial.value)
            assert run.data.metrics["test/rmse/logD"] == pytest.approx(trial.params["x"])
            assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")] == [
                "checkpoints/best.ckpt"
            ]
        if trial.state == TrialState.FAIL:
            assert tags["optuna.error"] == f"lost connection to {MASKED_STORAGE}"
            assert "trial_value" not in run.data.metrics


def test_config_artifact_and_plots(finished_study, tracking_uri: str, tmp_path: Path) -> None:
    study, tracker, plots = finished_study
    client = MlflowClient(tracking_uri)
    run_id = study.trials[0].user_attrs[RUN_ID_ATTR]
    config = yaml.safe_load(Path(client.download_artifacts(run_id, "config.yaml", str(tmp_path))).read_text())
    assert config["storage"] == MASKED_STORAGE
    assert config["model"] == {"depth": 3}
    assert config["data"].endswith("best.ckpt")
    stems = ("optimization_history", "parallel_coordinate", "param_importances", "learning_curve")
    expected = sorted(f"plots/{stem}.{kind}" for stem in stems for kind in ("html", "png"))
    assert sorted(plots) == expected  # no parity plot: this fake objective logs no predictions
    assert sorted(a.path for a in client.list_artifacts(tracker.parent_run_id, "plots")) == expected
    folder = Path(client.download_artifacts(tracker.parent_run_id, "plots", str(tmp_path)))
    html = (folder / "optimization_history.html").read_text()
    assert '<script charset="utf-8" src="https://cdn.plot.ly/plotly-' in html  # loaded, not embedded
    assert (folder / "optimization_history.png").read_bytes().startswith(b"\x89PNG")
    assert sum(path.stat().st_size for path in folder.iterdir()) < 1_000_000
    assert "val_loss" not in (folder / "learning_curve.html").read_text()  # the fake logs train_loss only
    assert sorted(tracker.log_study_plots(tracker.parent_run_id, study)) == expected  # replaced, same set


def test_no_password_in_any_param_tag_or_artifact(finished_study, tracking_uri: str, tmp_path: Path) -> None:
    _, tracker, _ = finished_study
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([tracker.experiment_id])
    parent = client.get_run(tracker.parent_run_id)
    assert parent.data.tags["optuna.storage"] == MASKED_STORAGE
    for run in runs:
        assert run.data.params.get("storage", MASKED_STORAGE) == MASKED_STORAGE
        assert all(SECRET not in value for value in [*run.data.params.values(), *run.data.tags.values()])
        downloaded = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id)))
        for path in downloaded.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


def test_run_link_points_at_local_artifacts(finished_study) -> None:
    study, tracker, _ = finished_study
    run_id = study.trials[0].user_attrs[RUN_ID_ATTR]
    link = tracker.run_link(run_id)
    assert link.endswith(f"mlartifacts/lifecycle/{run_id}/artifacts")
    assert (Path(link) / "config.yaml").is_file()


WORKER = """
import sys
import optuna
from optuna.trial import TrialState
from admet_hpo.tracking.tracker import StudyTracker

tracking_uri, storage, name = sys.argv[1:]
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name=name, storage=storage)
tracker = StudyTracker(tracking_uri)
print("parent", tracker.start_study(study))
for _ in range(2):
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    run_id = tracker.start_trial(trial)
    tracker.log_epoch_metrics(run_id, {"val_loss": trial.params["x"]}, step=0)
    tracker.finish_trial(run_id, TrialState.COMPLETE, value=trial.params["x"])
    study.tell(trial, trial.params["x"])
"""


def test_worker_processes_share_the_parent_run(tracking_uri: str, tmp_path: Path) -> None:
    storage = _storage_url(tmp_path)
    study = optuna.create_study(study_name="workers", storage=storage)
    tracker = StudyTracker(tracking_uri)
    parent = tracker.start_study(study, storage_url=storage)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, tracking_uri, storage, "workers"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    assert [out.splitlines()[0] for out, _ in outputs] == [f"parent {parent}"] * 2

    client = MlflowClient(tracking_uri)
    runs = client.search_runs([tracker.experiment_id])
    children = [run for run in runs if run.info.run_id != parent]
    assert len(runs) == 5
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent}
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert {trial.user_attrs[RUN_ID_ATTR] for trial in trials} == {run.info.run_id for run in children}
    assert {run.data.tags["optuna.trial_number"] for run in children} == {"0", "1", "2", "3"}
    assert all(run.info.status == "FINISHED" for run in children)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_close_stale_runs_fails_the_runs_of_reaped_trials(tracking_uri: str, tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(_storage_url(tmp_path), heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="stale", storage=storage)
    tracker, dead_worker = StudyTracker(tracking_uri), StudyTracker(tracking_uri)
    tracker.start_study(study)
    dead_worker.start_study(study)
    done = study.ask()
    done_run = tracker.start_trial(done)
    tracker.finish_trial(done_run, TrialState.COMPLETE, value=1.0)
    study.tell(done, 1.0)
    dead = study.ask()
    dead_run = dead_worker.start_trial(dead)
    storage.record_heartbeat(dead._trial_id)  # the worker's last sign of life
    time.sleep(2.2)
    live = study.ask()
    live_run = tracker.start_trial(live)

    assert tracker.close_stale_runs(study) == []  # the dead trial is still RUNNING in Optuna
    optuna.storages.fail_stale_trials(study)
    assert study.trials[dead.number].state == TrialState.FAIL
    # the tracker that started a run leaves it to its own closing path (deferred, or the taken-over check)
    assert dead_worker.close_stale_runs(study) == []
    assert tracker.close_stale_runs(study) == [dead_run]
    assert tracker.close_stale_runs(study) == []

    client = MlflowClient(tracking_uri)
    dead_info = client.get_run(dead_run)
    assert dead_info.info.status == "FAILED"
    assert dead_info.data.tags["optuna.state"] == "FAIL"
    assert dead_info.data.tags["optuna.error"] == STALE_RUN_ERROR
    assert client.get_run(live_run).info.status == "RUNNING"
    assert client.get_run(done_run).info.status == "FINISHED"


def test_parent_run_is_reopened_replaced_and_its_experiment_restored(
    tracking_uri: str, tmp_path: Path
) -> None:
    study = optuna.create_study(study_name="reuse", storage=_storage_url(tmp_path))
    client = MlflowClient(tracking_uri)
    first = StudyTracker(tracking_uri)
    parent = first.start_study(study)
    first.finish_study()
    assert client.get_run(parent).info.status == "FINISHED"

    assert StudyTracker(tracking_uri).start_study(study) == parent
    assert client.get_run(parent).info.status == "RUNNING"

    client.delete_run(parent)
    replacement = StudyTracker(tracking_uri).start_study(study)
    assert replacement != parent
    assert study.user_attrs[PARENT_RUN_ATTR] == replacement

    client.delete_experiment(first.experiment_id)
    again = StudyTracker(tracking_uri)
    assert again.start_study(study) == replacement
    assert again.experiment_id == first.experiment_id
    assert client.get_experiment(first.experiment_id).lifecycle_stage == "active"


def test_experiment_created_concurrently_is_reused(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.create_study(study_name="race", storage=_storage_url(tmp_path))
    winner = StudyTracker(tracking_uri)
    winner.start_study(study)
    loser = StudyTracker(tracking_uri)
    lookups = iter([None])  # the loser looked before the winner created the experiment
    original = loser._client.get_experiment_by_name
    monkeypatch.setattr(loser._client, "get_experiment_by_name", lambda name: next(lookups, original(name)))
    loser.start_study(study)
    assert loser.experiment_id == winner.experiment_id
    assert loser.parent_run_id == winner.parent_run_id


def test_parent_run_recorded_concurrently_by_another_worker_wins(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.create_study(study_name="parent-race", storage=_storage_url(tmp_path))
    client = MlflowClient(tracking_uri)
    record = study.set_user_attr
    rivals = []

    def record_then_overwritten_by_a_rival(key: str, value: str) -> None:
        record(key, value)
        if key != PARENT_RUN_ATTR:  # e.g. the experiment id
            return
        experiment_id = client.get_experiment_by_name("parent-race").experiment_id
        rivals.append(client.create_run(experiment_id, run_name="rival").info.run_id)
        record(key, rivals[0])

    monkeypatch.setattr(study, "set_user_attr", record_then_overwritten_by_a_rival)
    tracker = StudyTracker(tracking_uri)
    assert tracker.start_study(study) == rivals[0] == tracker.parent_run_id
    assert [run.info.run_id for run in client.search_runs([tracker.experiment_id])] == rivals


def test_misuse_is_reported(tracking_uri: str, tmp_path: Path) -> None:
    study = optuna.create_study(study_name="misuse", storage=_storage_url(tmp_path))
    tracker = StudyTracker(tracking_uri)
    with pytest.raises(RuntimeError, match=r"start_study\(study\) must be called before"):
        tracker.start_trial(study.ask())
    tracker.start_study(study)
    run_id = tracker.start_trial(study.ask())
    with pytest.raises(ValueError, match="trial state RUNNING is not a finished state"):
        tracker.finish_trial(run_id, TrialState.RUNNING)
    assert MlflowClient(tracking_uri).get_run(run_id).info.status == "RUNNING"
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*missing\.ckpt does not exist"):
        tracker.log_checkpoint(run_id, tmp_path / "missing.ckpt")


def test_unopenable_store_is_a_config_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mlflow.store.db.utils, "MAX_RETRY_COUNT", 1)  # MLflow would retry for ~100 s
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConfigError, match=r"MLflow tracking store sqlite:///.*dir\.db: cannot be opened"):
        ensure_tracking_store(f"sqlite:///{tmp_path}/dir.db")
    with pytest.raises(ConfigError, match=r"postgresql\+psycopg://bob:\*\*\*@127\.0\.0\.1:1/x") as raised:
        ensure_tracking_store(f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/x")
    assert SECRET not in str(raised.value)


def test_study_summary_follows_the_best_trial_and_omits_the_delta_without_a_baseline(
    tracking_uri: str, tmp_path: Path
) -> None:
    study = optuna.create_study(study_name="summary", storage=_storage_url(tmp_path))
    tracker = StudyTracker(tracking_uri)
    parent = tracker.start_study(study)
    uniform = optuna.distributions.FloatDistribution(0.0, 1.0)

    def add(state: TrialState, value: float | None, **params: float) -> None:
        distributions = dict.fromkeys(params, uniform)
        study.add_trial(
            optuna.trial.create_trial(state=state, value=value, params=params, distributions=distributions)
        )

    add(TrialState.COMPLETE, 2.0, x=0.5, y=0.25)
    tracker.log_study_summary(study)
    add(TrialState.COMPLETE, 1.0, x=0.125)
    seen_then = study.get_trials(deepcopy=False)  # as a deferred call's caller saw the study
    add(TrialState.PRUNED, None, x=0.75)
    tracker.log_study_summary(study, seen_then)
    tracker.log_study_summary(study)

    client = MlflowClient(tracking_uri)
    history = client.get_metric_history(parent, "trials_complete")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 2.0), (3, 2.0)]
    run = client.get_run(parent)
    assert run.data.metrics == {
        "trials_complete": 2.0,
        "trials_pruned": 1.0,
        "trials_failed": 0.0,
        "best_value": 1.0,
        "best_trial": 1.0,
    }
    assert {k: v for k, v in run.data.tags.items() if k.startswith("best.")} == {"best.x": "0.125"}


def test_closing_runs_while_another_thread_logs_epochs_loses_nothing(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a run shuts MLflow's asynchronous logging queue down; a trial's epochs sent meanwhile from
    another thread (the training thread while the tracker's thread closes the last trial) must not fail."""
    import threading

    import admet_hpo.tracking.tracker as tracker_module

    monkeypatch.setattr(tracker_module, "EPOCH_FLUSH_SECONDS", 0.0)  # every epoch is sent at once
    study = optuna.create_study(study_name="races", storage=_storage_url(tmp_path))
    tracker = StudyTracker(tracking_uri)
    tracker.start_study(study, storage_url=_storage_url(tmp_path))
    logged_trial = study.ask()
    logged = tracker.start_trial(logged_trial)
    closed = [tracker.start_trial(study.ask()) for _ in range(12)]
    errors: list[BaseException] = []

    def close_all() -> None:
        try:
            for run_id in closed:
                tracker.finish_trial(run_id, TrialState.COMPLETE, value=1.0)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    closer = threading.Thread(target=close_all)
    closer.start()
    try:
        for epoch in range(200):
            tracker.log_epoch_metrics(logged, {"val_loss": float(epoch)}, step=epoch)
    finally:
        closer.join(120)
    tracker.finish_trial(logged, TrialState.COMPLETE, value=0.0)
    tracker.flush()
    assert errors == []
    history = MlflowClient(tracking_uri).get_metric_history(logged, "val_loss")
    assert sorted(m.step for m in history) == list(range(200))
