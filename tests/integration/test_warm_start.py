"""Widening a bound starts a new study version that begins with the old version's best parameters.

Real ``hpo run`` twice on one SQLite storage: tiny chemprop trials on the demo data, real MLflow store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name

pytestmark = pytest.mark.integration

LR = {"path": "optim.max_lr", "type": "float", "low": 1.0e-3, "high": 3.0e-3, "log": True}


def _write_study(folder: Path, max_lr: dict[str, Any]) -> Path:
    (folder / "space.yaml").write_text(yaml.safe_dump({"parameters": {"max_lr": max_lr}}), encoding="utf-8")
    study = {
        "name": "widen",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
        },
        "sampler": {"type": "random", "seed": 3},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "nightly": {"n_trials": 1},
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def test_a_widened_space_warm_starts_from_the_previous_version(tmp_path: Path) -> None:
    study_file = _write_study(tmp_path, LR)
    first = CliRunner().invoke(app, ["run", str(study_file)])
    assert first.exit_code == 0, first.output
    old = load_study(study_file)
    old_version = optuna.load_study(study_name=versioned_study_name(old), storage=old.storage)
    assert "warm start" not in first.output  # the first version has nothing to start from

    _write_study(tmp_path, {**LR, "low": 1.0e-4})  # widened
    second = CliRunner().invoke(app, ["run", str(study_file), "--n-trials", "1"])
    assert second.exit_code == 0, second.output
    new = load_study(study_file)
    assert versioned_study_name(new) != old_version.study_name
    assert f"warm start: 2 best parameter set(s) of {old_version.study_name}" in second.output
    new_version = optuna.load_study(study_name=versioned_study_name(new), storage=new.storage)
    trials = new_version.get_trials()
    assert trials[0].user_attrs["baseline"] is True  # the base config first, then the warm start
    assert trials[1].system_attrs["fixed_params"] == old_version.best_trial.params
    assert (
        trials[1].user_attrs["warm_start_from"] == f"{old_version.study_name}#{old_version.best_trial.number}"
    )
    states = optuna.trial.TrialState
    assert [t.state for t in trials] == [states.COMPLETE, states.WAITING, states.WAITING]  # budget 1 ran

    _write_study(tmp_path, {**LR, "low": 1.0e-5})  # widened again: a night opens the next version
    night = CliRunner().invoke(app, ["nightly", str(study_file), "--date", "2026-12-01", "-q"])
    assert night.exit_code == 0, night.output
    assert f"warm start: 1 best parameter set(s) of {new_version.study_name}" in night.output
