"""A real study: chemprop trials on the demo data, real SQLite Optuna storage, real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.config.training import load_training_config
from admet_hpo.orchestration import runner
from admet_hpo.orchestration.session import StudySession
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.training import run as training_run

pytestmark = pytest.mark.integration

SPACE = {
    "parameters": {
        "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1.0e-6, "high": 5.0e-3, "log": True},
        "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0},
    }
}
GOOD = {"max_lr": 3.0e-3, "alpha": 0.5}
HOPELESS = {"max_lr": 1.0e-6, "alpha": 0.5}


def write_study(folder: Path, space: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {
        "name": "itest",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1, "init_lr": 1.0e-6},
            "trainer": {"max_epochs": 3, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random", "seed": 1},
        "baseline": False,  # the trials below are enqueued by hand (the baseline: test_baseline_trial.py)
        "pruner": {"type": "median", "args": {"n_startup_trials": 1, "n_warmup_steps": 0}},
        "n_trials": 3,
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory):
    """Three finished trials (a good one, a hopeless one that gets pruned, one sampled) and one failure."""
    study_file = write_study(tmp_path_factory.mktemp("study"), SPACE)
    study = load_study(study_file)
    optuna_study = runner.prepare_study(StudySession(study))
    optuna_study.enqueue_trial(GOOD)
    optuna_study.enqueue_trial({"max_lr": 2.0e-3, "alpha": 0.1})  # this one's training raises
    optuna_study.enqueue_trial(HOPELESS)

    real_train = training_run.train
    calls = {"n": 0}

    def train_failing_second_call(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated trainer crash")
        return real_train(*args, **kwargs)

    patcher = pytest.MonkeyPatch()
    patcher.setattr(training_run, "train", train_failing_second_call)
    try:
        summary = runner.run_worker(StudySession(study), n_trials=study.n_trials, timeout=None)
    finally:
        patcher.undo()
    return study_file, study, optuna.load_study(study_name=summary.study_name, storage=study.storage), summary


def test_budget_counts_finished_trials_and_failures_do_not_stop_the_study(finished_study) -> None:
    _, _, optuna_study, summary = finished_study
    states = [t.state for t in optuna_study.get_trials()]
    assert states[1] == TrialState.FAIL
    assert states[2] == TrialState.PRUNED
    assert summary.complete + summary.pruned == 3 and summary.failed == 1 and summary.running == 0
    failed = optuna_study.trials[1]
    assert "simulated trainer crash" in failed.user_attrs["error"]


def test_every_trial_has_one_mlflow_child_run_with_tags_and_status(finished_study) -> None:
    _, study, optuna_study, _ = finished_study
    client = mlflow.MlflowClient(study.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(optuna_study.study_name)
    runs = client.search_runs([experiment.experiment_id])
    parent_id = optuna_study.user_attrs["mlflow_parent_run_id"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    assert len(children) == len(optuna_study.trials)
    status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
    by_id = {r.info.run_id: r for r in children}
    for trial in optuna_study.trials:
        run = by_id[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == status[trial.state]
        assert run.data.tags["optuna.study_name"] == optuna_study.study_name
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.data.tags["optuna.state"] == trial.state.name
        assert run.data.params["max_lr"] == str(trial.params["max_lr"])
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["trial_value"] == pytest.approx(trial.value)
            history = client.get_metric_history(run.info.run_id, "val_loss")
            assert [m.step for m in history] == [0, 1, 2]
            assert "lineage.data_hash" in run.data.tags


def test_resume_adds_only_the_missing_trials(finished_study) -> None:
    _, study, optuna_study, _ = finished_study
    before = len(optuna_study.trials)
    summary = runner.run_worker(StudySession(study), n_trials=3, timeout=None)
    assert len(optuna.load_study(study_name=summary.study_name, storage=study.storage).trials) == before


def test_export_then_train_reproduces_the_trial_value(finished_study, tmp_path: Path) -> None:
    study_file, _, optuna_study, _ = finished_study
    exported = tmp_path / "best.yaml"
    result = CliRunner().invoke(app, ["export", str(study_file), "--trial", "0", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    config = load_training_config(exported)
    assert config.optim.max_lr == pytest.approx(GOOD["max_lr"])
    retrained = training_run.train(config, progress_bar=False)
    assert retrained.best_val_loss == pytest.approx(optuna_study.trials[0].value, rel=1e-6)


def test_status_and_best_commands_show_the_study(finished_study) -> None:
    study_file, _, optuna_study, _ = finished_study
    status = CliRunner().invoke(app, ["status", str(study_file)])
    assert status.exit_code == 0 and "PRUNED" in status.output and "FAIL" in status.output
    best = CliRunner().invoke(app, ["best", str(study_file), "--json"])
    assert best.exit_code == 0
    assert f'"trial": {optuna_study.best_trial.number}' in best.output


def test_a_changed_search_space_opens_a_new_study_version(finished_study) -> None:
    study_file, study, optuna_study, _ = finished_study
    changed = {"parameters": {**SPACE["parameters"]}}
    changed["parameters"]["max_lr"] = {**SPACE["parameters"]["max_lr"], "log": False}
    (study_file.parent / "space.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    new_study = load_study(study_file)
    new_version = runner.prepare_study(StudySession(new_study))
    assert new_version.study_name != optuna_study.study_name == versioned_study_name(study)
    assert len(optuna.load_study(study_name=optuna_study.study_name, storage=study.storage).trials) == 4
    (study_file.parent / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")


def test_commands_on_a_study_that_never_ran_explain_what_to_do(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, SPACE)
    result = CliRunner().invoke(app, ["status", str(study_file)])
    assert result.exit_code == 2
    assert "no study storage" in result.output and "hpo run" in result.output


def test_hpo_run_on_a_spent_budget_adds_nothing_and_prints_a_json_summary(finished_study) -> None:
    study_file, _, optuna_study, _ = finished_study
    before = len(optuna_study.trials)
    result = CliRunner().invoke(app, ["run", str(study_file), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["complete"] + summary["pruned"] == 3 and summary["failed"] == 1
    assert (
        len(
            optuna.load_study(
                study_name=optuna_study.study_name, storage=load_study(study_file).storage
            ).trials
        )
        == before
    )
