"""Pure tracking helpers: run status mapping, MLflow keys, run URLs, dashboard notes, store paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from optuna_dashboard import get_note

from admet_hpo.config.locations import sqlite_database
from admet_hpo.tracking.keys import mlflow_key
from admet_hpo.tracking.notes import dashboard_note, save_trial_note, trial_run_url
from admet_hpo.tracking.status import run_status
from admet_hpo.tracking.store import default_artifact_root, experiment_artifact_location


@pytest.mark.parametrize(
    ("state", "status"),
    [(TrialState.COMPLETE, "FINISHED"), (TrialState.PRUNED, "KILLED"), (TrialState.FAIL, "FAILED")],
)
def test_run_status_follows_trial_state(state: TrialState, status: str) -> None:
    assert run_status(state) == status


@pytest.mark.parametrize("state", [TrialState.RUNNING, TrialState.WAITING])
def test_run_status_refuses_unfinished_states(state: TrialState) -> None:
    with pytest.raises(ValueError, match=rf"trial state {state.name} is not a finished state.*COMPLETE"):
        run_status(state)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("val/rmse/logD", "val/rmse/logD"),
        ("sampling.task_oversampling.alpha", "sampling.task_oversampling.alpha"),
        ("val/rmse/Caco-2 (Papp)", "val/rmse/Caco-2 _Papp_"),
        ("/abs//x/./y/../z/", "abs/x/y/z"),
        ("ratio:chembl", "ratio_chembl"),
        ("", "_"),
        ("..", "_"),
        ("k" * 300, "k" * 250),
    ],
)
def test_mlflow_key(name: str, key: str) -> None:
    assert mlflow_key(name) == key


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/#/experiments/7/runs/abc"),
        (
            "https://u:secret@mlflow.example.org/base/",
            "https://mlflow.example.org/base/#/experiments/7/runs/abc",
        ),
        ("http://[::1]:5000/?x=1#frag", "http://[::1]:5000/#/experiments/7/runs/abc"),
        ("sqlite:////tmp/mlflow.db", None),
        ("file:///tmp/mlruns", None),
        ("./mlruns", None),
        ("databricks", None),
    ],
)
def test_trial_run_url(uri: str, url: str | None) -> None:
    assert trial_run_url(uri, "7", "abc") == url


def test_dashboard_note_links_to_a_server_run_page() -> None:
    note = dashboard_note(
        3, {"val_loss": 0.123456789, "test/rmse/a|b": float("nan")}, "run1", "http://h:5000/#/x/runs/run1"
    )
    assert note.splitlines() == [
        "### Trial 3",
        "",
        "| metric | value |",
        "|---|---|",
        "| val_loss | 0.123457 |",
        "| test/rmse/a\\|b | nan |",
        "",
        "MLflow run: [run1](http://h:5000/#/x/runs/run1)",
    ]


def test_dashboard_note_shows_local_artifacts_or_only_the_run_id() -> None:
    assert dashboard_note(0, {}, "run1", "/data/mlartifacts/s/run1/artifacts").endswith(
        "MLflow run: `run1` (artifacts: `/data/mlartifacts/s/run1/artifacts`)\n"
    )
    assert dashboard_note(0, {}, "run1", None) == "### Trial 0\n\nMLflow run: `run1`\n"


def test_save_trial_note_replaces_the_note_of_a_finished_trial() -> None:
    study = optuna.create_study()
    study.optimize(lambda trial: 1.0, n_trials=2)
    first, second = study.trials
    finished = optuna.Trial(study, second._trial_id)
    save_trial_note(finished, "old")
    save_trial_note(finished, "**new**")
    assert get_note(optuna.Trial(study, second._trial_id)) == "**new**"
    assert get_note(optuna.Trial(study, first._trial_id)) == ""


def test_store_paths(tmp_path: Path) -> None:
    assert sqlite_database(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db"
    assert sqlite_database("sqlite:///rel/m.db?timeout=5") == Path("rel/m.db")
    assert sqlite_database("sqlite:///:memory:") is None
    assert sqlite_database("postgresql://h/db") is None
    assert default_artifact_root(f"sqlite:///{tmp_path}/m.db") == str(tmp_path / "mlartifacts")
    assert default_artifact_root("http://127.0.0.1:5000") is None
    assert experiment_artifact_location("/a/mlartifacts/", "study v2/x") == "/a/mlartifacts/study_v2_x"
    assert experiment_artifact_location(None, "s") is None


def test_tracking_modules_do_not_import_mlflow_plotly_or_the_dashboard() -> None:
    code = (
        "import sys\n"
        "import admet_hpo.tracking.tracker, admet_hpo.tracking.notes, admet_hpo.tracking.store\n"
        "heavy = sorted(m for m in ('mlflow', 'plotly', 'optuna_dashboard', 'optuna') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_dashboard_note_lists_applied_parameters_and_how_to_start_the_ui() -> None:
    note = dashboard_note(
        1,
        {},
        "run1",
        "http://127.0.0.1:5000/#/experiments/1/runs/run1",
        parameters={"condition_ratio.human": 0.0145194321, "size": 64, "act|ivation": "relu"},
        artifacts="/data/mlartifacts/s/run1/artifacts",
        ui_command="mlflow ui --backend-store-uri sqlite:////data/mlflow.db --port 5000",
    )
    assert note.splitlines()[2:] == [
        "| parameter (as applied) | value |",
        "|---|---|",
        "| condition_ratio.human | 0.0145194 |",
        "| size | 64 |",
        "| act\\|ivation | relu |",
        "",
        "MLflow run: [run1](http://127.0.0.1:5000/#/experiments/1/runs/run1) "
        "(artifacts: `/data/mlartifacts/s/run1/artifacts`)",
        "",
        "The link needs the MLflow UI of this store: "
        "`mlflow ui --backend-store-uri sqlite:////data/mlflow.db --port 5000`",
    ]
