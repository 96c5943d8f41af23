"""Nightly sweeps for real: chemprop trials on demo data in SQLite, tracked in a SQLite MLflow store.

One study goes through three nights (two calls on the first), its data changing before the third; a
second study gets stale trials to reap; a third runs `hpo schedule` on a schedule firing every second.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import mlflow
import optuna
import pandas as pd
import pytest
import torch
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import Study, load_study
from admet_hpo.data import training_data
from admet_hpo.data.known.demo import TARGETS, build_demo
from admet_hpo.data.training_data import load_training_data
from admet_hpo.orchestration.nightly import (
    NightReport,
    plan_night,
    run_nightly,
    trial_night,
)
from admet_hpo.orchestration.runner import load_existing_study, prepare_study
from admet_hpo.orchestration.session import StudySession
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.storage.rdb import open_storage
from admet_hpo.tracking.keys import (
    BASELINE_ATTR,
    DATA_HASH_ATTR,
    NIGHT_ATTR,
    NIGHTLY_VERSION_ATTR,
    PREVIOUS_VERSION_ATTR,
)
from admet_hpo.tracking.tracker import StudyTracker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize"),
]

NIGHT_1, NIGHT_2, NIGHT_3 = "2026-01-01", "2026-01-02", "2026-01-03"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def write_study(folder: Path, *, nightly: dict, heartbeat: dict | None = None) -> Path:
    """A tiny study on the demo table saved as CSV in ``folder`` (so a test can change the data)."""
    folder.mkdir(parents=True, exist_ok=True)
    build_demo().to_csv(folder / "demo.csv", index=False)
    space = {
        "parameters": {
            "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1.0e-4, "high": 5.0e-3, "log": True},
            "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0},
        }
    }
    (folder / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {
        "name": "nightly-it",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"path": "demo.csv", "target_cols": list(TARGETS)},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random", "seed": 1},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "output_dir": "out",
        "nightly": nightly,
        "heartbeat": heartbeat or {"interval": 30},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def trials_of(study: Study, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=study.storage).get_trials()


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    torch.set_num_threads(previous)


@dataclass
class Nights:
    study_file: Path
    study: Study
    first: NightReport
    first_again: NightReport
    second: NightReport
    third_output: str
    old_hash: str
    new_hash: str


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    """Night 1 run twice, night 2, then a label changed in the data and night 3 through the CLI."""
    study_file = write_study(
        tmp_path_factory.mktemp("nights"), nightly={"n_trials": 2, "warm_start_top_k": 1}
    )
    study = load_study(study_file)
    old_hash = load_training_data(study.base_training)[0].content_hash
    load = training_data.load_training_data
    loads: list[object] = []
    with pytest.MonkeyPatch.context() as patch:  # a night hashes and trains on one load of the data
        patch.setattr(
            training_data,
            "load_training_data",
            lambda config, **kwargs: loads.append(config) or load(config, **kwargs),
        )
        first = run_nightly(StudySession(study), date.fromisoformat(NIGHT_1))
    assert len(loads) == 1
    first_again = run_nightly(StudySession(study), date.fromisoformat(NIGHT_1))
    second = run_nightly(StudySession(study), date.fromisoformat(NIGHT_2))

    table = pd.read_csv(study_file.parent / "demo.csv")
    labelled = table["logD"].first_valid_index()
    table.loc[labelled, "logD"] += 0.5
    table.to_csv(study_file.parent / "demo.csv", index=False)
    new_hash = load_training_data(study.base_training)[0].content_hash
    result = CliRunner().invoke(
        app, ["nightly", str(study_file), "--date", NIGHT_3, "-q"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    return Nights(study_file, study, first, first_again, second, result.output, old_hash, new_hash)


def test_two_calls_on_the_same_date_add_the_night_once(nights: Nights) -> None:
    base = versioned_study_name(nights.study)
    assert nights.first.plan.version.name == base and not nights.first.plan.version.exists
    assert nights.first.added == 2 and nights.first.after.finished == 2
    again = nights.first_again
    assert again.plan.budget.spent and again.added == 0 and again.plan.enqueued == []
    night_1 = [t for t in trials_of(nights.study, base) if trial_night(t) == NIGHT_1]
    assert len(night_1) == 2 and all(t.state in FINISHED for t in night_1)


def test_the_next_night_starts_with_the_best_of_the_previous_night(nights: Nights) -> None:
    trials = trials_of(nights.study, versioned_study_name(nights.study))
    night_1 = [t for t in trials if trial_night(t) == NIGHT_1 and t.state == TrialState.COMPLETE]
    best = min(night_1, key=lambda t: t.value)
    assert nights.second.plan.enqueued == [best.params]
    night_2 = sorted((t for t in trials if trial_night(t) == NIGHT_2), key=lambda t: t.number)
    assert [t.state for t in night_2] == [TrialState.COMPLETE] * 2
    assert night_2[0].params == best.params
    assert night_2[0].value == pytest.approx(best.value, rel=1e-6)  # same parameters, same data, same seed
    assert night_2[1].params not in [t.params for t in night_1]  # the sampler draws anew each night


def test_every_trial_of_a_night_is_tagged_and_tracked_in_mlflow(nights: Nights) -> None:
    client = mlflow.MlflowClient(nights.study.mlflow_tracking_uri)
    for trial in trials_of(nights.study, versioned_study_name(nights.study)):
        assert trial.user_attrs[NIGHT_ATTR] in (NIGHT_1, NIGHT_2)
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.trial_number"] == str(trial.number)


def test_changed_data_opens_a_new_study_version_and_says_so(nights: Nights) -> None:
    study, base = nights.study, versioned_study_name(nights.study)
    assert nights.new_hash != nights.old_hash
    new_name = f"{study.name}-d{nights.new_hash[:8]}-{base.rsplit('-', 1)[1]}"
    output = " ".join(nights.third_output.split())
    assert (
        f"data changed: content hash {nights.new_hash[:12]} differs from {nights.old_hash[:12]} of {base}"
        in output
    )
    assert f"opened a new study version {new_name} instead of mixing results" in output

    base_study = optuna.load_study(study_name=base, storage=study.storage)
    assert len(base_study.trials) == 4  # nights 1 and 2 only
    assert base_study.user_attrs[DATA_HASH_ATTR] == nights.old_hash
    assert base_study.user_attrs[NIGHTLY_VERSION_ATTR] == new_name
    new_study = optuna.load_study(study_name=new_name, storage=study.storage)
    assert new_study.user_attrs[DATA_HASH_ATTR] == nights.new_hash
    assert new_study.user_attrs[PREVIOUS_VERSION_ATTR] == base
    night_3 = sorted(new_study.trials, key=lambda t: t.number)
    assert [trial_night(t) for t in night_3] == [NIGHT_3, NIGHT_3]
    assert all(t.state in FINISHED for t in night_3)
    best_before = min((t for t in base_study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert night_3[0].user_attrs.get(BASELINE_ATTR) is True  # a new version trains its baseline first
    assert night_3[1].params == best_before.params  # then the warm start from the version it replaced
    assert mlflow.MlflowClient(study.mlflow_tracking_uri).get_experiment_by_name(new_name) is not None


# ----------------------------------------------------------------------------------------- stale trials


@pytest.fixture(scope="module")
def stale_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("stale")
    study = load_study(
        write_study(folder, nightly={"n_trials": 1}, heartbeat={"interval": 1, "grace_period": 2})
    )
    prepare_study(StudySession(study))
    return study


def leave_stale_trial(study: Study) -> tuple[int, str]:
    """A RUNNING trial with an MLflow run whose worker 'died': its last heartbeat is older than the grace
    period. Returns its number and run id."""
    optuna_study = load_existing_study(StudySession(study))
    trial = optuna_study.ask()
    tracker = StudyTracker(study.mlflow_tracking_uri)
    tracker.start_study(optuna_study)
    run_id = tracker.start_trial(trial)
    open_storage(study.storage, study.heartbeat).record_heartbeat(trial._trial_id)
    time.sleep(study.heartbeat.grace_period + 1)
    return trial.number, run_id


def test_a_night_fails_stale_trials_and_closes_their_runs_first(stale_study: Study) -> None:
    number, run_id = leave_stale_trial(stale_study)
    plan = plan_night(StudySession(stale_study), date.fromisoformat(NIGHT_1))
    assert plan.reaped[0].failed_trials == [number] and plan.reaped[0].closed_runs == [run_id]
    trials = trials_of(stale_study, versioned_study_name(stale_study))
    assert trials[number].state == TrialState.FAIL
    assert [t.state for t in trials if t.number != number] == [TrialState.WAITING]  # re-queued to retry
    run = mlflow.MlflowClient(stale_study.mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["optuna.state"] == "FAIL"


def test_hpo_reap_fails_stale_trials_on_demand(stale_study: Study) -> None:
    number, run_id = leave_stale_trial(stale_study)
    name = versioned_study_name(stale_study)
    result = CliRunner().invoke(app, ["reap", str(stale_study.source)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{name}: failed 1 stale trial(s) (#{number})" in result.output
    assert f"{name}: closed 1 MLflow run(s) left RUNNING" in result.output
    assert mlflow.MlflowClient(stale_study.mlflow_tracking_uri).get_run(run_id).info.status == "FAILED"
    again = CliRunner().invoke(app, ["reap", str(stale_study.source)], env={"COLUMNS": "200"})
    assert (
        again.exit_code == 0 and f"no stale trial (none silent for more than 2 s) in {name}" in again.output
    )


# --------------------------------------------------------------------------------------------- schedule


def test_schedule_runs_a_night_when_the_cron_fires(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, nightly={"n_trials": 1, "timezone": "Pacific/Kiritimati"})
    result = CliRunner().invoke(
        app, ["schedule", str(study_file), "--cron", "* * * * * *", "--max-runs", "1"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "next night at" in result.output and "scheduler stopped after 1 night(s)" in result.output
    study = load_study(study_file)
    trials = trials_of(study, versioned_study_name(study))
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    assert len(trials) == 1 and trials[0].state in FINISHED
    assert trial_night(trials[0]) in (
        today,
        date.fromordinal(date.fromisoformat(today).toordinal() - 1).isoformat(),
    )


def test_sigterm_stops_the_scheduler_between_nights(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, nightly={"n_trials": 1, "cron": "0 2 1 1 *"})
    log = tmp_path / "schedule.log"
    hpo = shutil.which("hpo", path=str(Path(sys.executable).parent))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [hpo, "schedule", str(study_file)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        deadline = time.monotonic() + 90
        while "next night at" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        assert "next night at" in log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "scheduler stopped" in log.read_text()
