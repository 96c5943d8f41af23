"""The baseline trial in a real study (chemprop, SQLite Optuna storage, MLflow store): trial 0 trains the
base config, is enqueued once across resumes, and `hpo best` / `hpo status` / notes compare with it.
The study optimises a field metric (val/mean_pearson_r) whose final test values match scipy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
import yaml
from chemprop.models import MPNN
from optuna.trial import TrialState
from optuna_dashboard import get_note
from scipy import stats
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.training_data import load_training_data
from admet_hpo.search.objective import trial_config
from admet_hpo.search.space import values_from_params
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.tracking.keys import BASELINE_ATTR, TEST_METRICS_ATTR
from admet_hpo.training.prediction import evaluation_loader, predict
from admet_hpo.training.run import labelled_rows

pytestmark = pytest.mark.integration

SPACE = {
    "parameters": {
        "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1.0e-4, "high": 5.0e-3, "log": True},
        "hidden": {"path": "model.message_hidden_dim", "type": "categorical", "choices": [24, 16]},
        "depth": {"path": "model.depth", "type": "int", "low": 1, "high": 3},
    }
}
BASE = {"max_lr": 1.0e-3, "hidden": 16, "depth": 2}


def write_study(folder: Path) -> Path:
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    study = {
        "name": "baseline-it",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1, "max_lr": 1.0e-3},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
        },
        "metric": "val/mean_pearson_r",
        "direction": "maximize",
        "sampler": {"type": "random", "seed": 3},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):
    study_file = write_study(tmp_path_factory.mktemp("baseline"))
    result = CliRunner().invoke(app, ["run", str(study_file), "-q"])
    assert result.exit_code == 0, result.output
    study = load_study(study_file)
    return study_file, study


def trials(study) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=versioned_study_name(study), storage=study.storage).get_trials()


def test_trial_zero_is_the_baseline_with_the_base_config_values(ran) -> None:
    _, study = ran
    first, *others = trials(study)
    assert first.number == 0 and first.user_attrs[BASELINE_ATTR] is True
    assert first.params == BASE and first.state == TrialState.COMPLETE
    assert not any(BASELINE_ATTR in t.user_attrs for t in others)
    config = trial_config(study, values_from_params(study.space, first.params), 0)
    expected = study.base_training.model_dump()
    assert {**config.model_dump(), "output_dir": None, "trainer": None} == {
        **expected,
        "output_dir": None,
        "trainer": None,
    }
    history = json.loads((Path(first.user_attrs["output_dir"]) / "metrics.json").read_text())["history"]
    best_epoch = min(history, key=lambda record: record["val_loss"])
    assert first.value == pytest.approx(best_epoch["val/mean_pearson_r"])


def test_stored_test_metrics_equal_scipy_on_the_saved_model(ran) -> None:
    _, study = ran
    first = trials(study)[0]
    table, split = load_training_data(study.base_training)
    rows = labelled_rows(table, split.test)
    model = MPNN.load_from_file(Path(first.user_attrs["output_dir"]) / "best.pt", map_location="cpu")
    dataset = build_molecule_dataset(table, rows, FeatureCache())
    predictions = predict(model, evaluation_loader(dataset, 256))
    stored = first.user_attrs[TEST_METRICS_ATTR]
    pearsons = []
    for t, task in enumerate(table.target_names):
        truth = table.targets[rows, t]
        mask = np.isfinite(truth)
        r = stats.pearsonr(truth[mask], predictions[mask, t]).statistic
        rho = stats.spearmanr(truth[mask], predictions[mask, t]).statistic
        mae = float(np.mean(np.abs(truth[mask] - predictions[mask, t])))
        assert stored[f"test/{task}/pearson_r"] == pytest.approx(r, abs=1e-5)
        assert stored[f"test/{task}/spearman_rho"] == pytest.approx(rho, abs=1e-5)
        assert stored[f"test/{task}/mae"] == pytest.approx(mae, rel=1e-5)
        pearsons.append(r)
    assert stored["test/mean_pearson_r"] == pytest.approx(np.mean(pearsons), abs=1e-5)
    run = mlflow.MlflowClient(study.mlflow_tracking_uri).get_run(first.user_attrs["mlflow_run_id"])
    assert run.data.metrics["test/mean_pearson_r"] == pytest.approx(stored["test/mean_pearson_r"])


def test_resuming_with_a_larger_budget_does_not_enqueue_a_second_baseline(ran) -> None:
    study_file, study = ran
    again = CliRunner().invoke(app, ["run", str(study_file), "-q"])
    assert again.exit_code == 0, again.output
    assert len(trials(study)) == 2, "the budget was spent: nothing added"
    more = CliRunner().invoke(app, ["run", str(study_file), "-q", "--n-trials", "3"])
    assert more.exit_code == 0, more.output
    all_trials = trials(study)
    assert len(all_trials) == 3
    assert [t.number for t in all_trials if t.user_attrs.get(BASELINE_ATTR)] == [0]


def test_best_status_and_notes_compare_with_the_baseline(ran) -> None:
    study_file, study = ran
    all_trials = trials(study)
    env = {"COLUMNS": "250"}
    best = CliRunner().invoke(app, ["best", str(study_file)], env=env)
    assert best.exit_code == 0, best.output
    best_trial = max(all_trials, key=lambda t: t.value)
    if best_trial.number == 0:
        assert "the baseline trial 0 (the base training config) is the best trial" in best.output
    else:
        gain = best_trial.value - all_trials[0].value
        assert f"baseline trial 0 (the base training config): value {all_trials[0].value:.6g}" in best.output
        assert f"improves on it by {gain:.4g}" in best.output
        assert f"test metrics: best trial {best_trial.number} / baseline trial 0" in best.output
    record = json.loads(CliRunner().invoke(app, ["best", str(study_file), "--json"]).output)
    assert record["baseline"]["trial"] == 0 and record["baseline"]["state"] == "COMPLETE"
    assert record["baseline"]["test_metrics"] == all_trials[0].user_attrs[TEST_METRICS_ATTR]
    status = CliRunner().invoke(app, ["status", str(study_file)], env=env)
    assert status.exit_code == 0 and "0 (baseline)" in status.output
    optuna_study = optuna.load_study(study_name=versioned_study_name(study), storage=study.storage)
    first_note = get_note(optuna.Trial(optuna_study, all_trials[0]._trial_id))
    assert first_note.startswith("### Trial 0 (baseline: the base training config)")
    note = get_note(optuna.Trial(optuna_study, all_trials[1]._trial_id))
    assert "| metric | this trial | baseline (trial 0) |" in note
    baseline_r = all_trials[0].user_attrs[TEST_METRICS_ATTR]["test/mean_pearson_r"]
    assert not math.isnan(baseline_r) and "| test/mean_pearson_r | " in note
    assert f"| {float(baseline_r):.6g} |" in note
