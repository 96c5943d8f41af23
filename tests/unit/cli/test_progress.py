"""The study progress display counts from storage and prints each finished trial once in JSON mode."""

from __future__ import annotations

import io
import json

import optuna
from rich.console import Console

from admet_hpo.cli.progress import StudyProgress, trials_table


def study_with(states: list[optuna.trial.TrialState]) -> optuna.Study:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    for number, state in enumerate(states):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("mlflow_run_id", f"run-{number}")
        study.tell(trial, float(number) if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    return study


def test_json_mode_prints_only_trials_finished_during_the_run_once_each() -> None:
    study = study_with([optuna.trial.TrialState.COMPLETE])
    out = io.StringIO()
    progress = StudyProgress(Console(file=out), budget=4, mode="json", study=study)
    assert out.getvalue() == ""  # the trial of an earlier run is not reported
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("mlflow_run_id", "run-new")
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    progress(study, study.trials[-1])
    progress.sync(study)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["state"] == "PRUNED" and record["mlflow_run_id"] == "run-new" and record["trial"] == 1


def test_counts_and_best_come_from_the_storage() -> None:
    states = [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.FAIL,
        optuna.trial.TrialState.COMPLETE,
    ]
    study = study_with(states)
    progress = StudyProgress(Console(file=io.StringIO()), budget=5, mode="quiet", study=study)
    assert progress.counts[optuna.trial.TrialState.COMPLETE] == 2
    assert progress.counts[optuna.trial.TrialState.FAIL] == 1
    assert progress.best is not None and progress.best.number == 0
    rendered = io.StringIO()
    Console(file=rendered, width=120).print(progress.render())
    assert "finished 2/5" in rendered.getvalue()


def test_trials_table_lists_state_value_and_run_id() -> None:
    study = study_with([optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL])
    rendered = io.StringIO()
    Console(file=rendered, width=200).print(trials_table(study))
    text = rendered.getvalue()
    assert "COMPLETE" in text and "FAIL" in text and "run-1" in text
