"""``--set`` changes what is trained: the chemprop model `hpo train` saves, every trial of `hpo run`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from chemprop.models import MPNN
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_train_set_changes_the_trained_model(tmp_path: Path) -> None:
    arguments = ["train", str(REPO / "configs" / "demo.yaml"), "--max-epochs", "3", "-o", str(tmp_path), "-q"]
    sets = ["model.depth=3", "model.message_hidden_dim=24", "trainer.early_stopping_patience=null"]
    result = CliRunner().invoke(app, [*arguments, *(item for s in sets for item in ("--set", s))])
    assert result.exit_code == 0, result.output
    model = MPNN.load_from_file(tmp_path / "best.pt", map_location="cpu")
    assert model.message_passing.depth == 3  # configs/demo.yaml says 2
    assert model.message_passing.W_h.out_features == 24  # and 64


def test_run_set_changes_every_trial(tmp_path: Path) -> None:
    space = {
        "parameters": {
            "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0, "high": 1}
        }
    }
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {
        "name": "sets",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 4, "early_stopping_patience": None, "progress_bar": False},
        },
        "pruner": {"type": "none"},
        "n_trials": 1,
        "output_dir": "out",
    }
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(study_file), "-q", "--set", "trainer.max_epochs=2"])
    assert result.exit_code == 0, result.output
    loaded = load_study(study_file)
    trial = optuna.load_study(study_name=versioned_study_name(loaded), storage=loaded.storage).trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["epochs_run"] == 2 and len(trial.intermediate_values) == 2  # the file says 4
