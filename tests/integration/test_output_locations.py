"""Outputs go where the user says: a shipped study run from another folder with ``--output-dir`` and
``MLFLOW_TRACKING_URI`` writes nothing into the checkout (listed before and after)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]


def checkout_files() -> set[Path]:
    """Every file and folder of the checkout outside .git."""
    return {path.relative_to(CHECKOUT) for path in CHECKOUT.rglob("*") if ".git" not in path.parts}


def test_a_shipped_study_run_elsewhere_writes_only_where_it_is_told(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tracking = f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"
    environment = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    environment.pop("ADMET_HPO_STORAGE", None)
    environment.pop("ADMET_HPO_OUTPUT", None)
    before = checkout_files()
    command = [sys.executable, "-m", "admet_hpo", "run", str(CHECKOUT / "studies" / "quickstart.yaml")]
    result = subprocess.run(
        [*command, "--output-dir", "out", "--n-trials", "1"],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert checkout_files() == before  # nothing beside the study file, nothing anywhere in the checkout

    out = elsewhere / "out"
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["storage:", f"sqlite:///{out / 'optuna.db'}"]
    assert lines[1].split() == ["tracking:", tracking]
    assert lines[2].split() == ["outputs:", str(out)]
    assert (out / "trials" / "trial-0000").is_dir() and not (out / "mlflow.db").exists()
    storage = f"sqlite:///{out / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    assert [t.state for t in optuna.load_study(study_name=name, storage=storage).trials] in (
        [TrialState.COMPLETE],
        [TrialState.PRUNED],
    )
    runs = mlflow.MlflowClient(tracking).search_runs(
        [mlflow.MlflowClient(tracking).get_experiment_by_name(name).experiment_id]
    )
    assert len(runs) == 2  # the parent run and the trial's run, in the store MLFLOW_TRACKING_URI names
