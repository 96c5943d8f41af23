"""Censored labels end to end: raw-unit tables with inline qualifiers and qualifier columns, trained with
``hpo train`` and a short ``hpo run``, and a file in the public challenge layout read by a few-line config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from chemprop.models import MPNN
from optuna.trial import TrialState
from rdkit import Chem
from rdkit.Chem import Crippen
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.config.training import load_training_config
from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.known import demo
from admet_hpo.data.training_data import load_training_data
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.training.prediction import evaluation_loader, predict
from admet_hpo.training.run import train

pytestmark = pytest.mark.integration

CLINT_FLOOR = 5.0  # uL/min/mg: below it the assay reports '<5'
SOL_CEILING = 200.0  # uM: above it the assay reports 200 with modifier '>'
MODEL = {"message_hidden_dim": 64, "depth": 2, "ffn_hidden_dim": 64}


def raw_unit_table(seed: int = 0) -> pd.DataFrame:
    """Demo molecules with two raw-unit endpoints driven by Crippen logP: clearance with inline '<' at
    the assay floor and a few exact zeros, solubility with a qualifier column and '>' at the ceiling."""
    rng = np.random.default_rng(seed)
    smiles = demo.build_demo()["smiles"].drop_duplicates().to_numpy()
    logp = np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles])
    clint = 10 ** (0.6 * (logp - np.median(logp)) + 1.0 + rng.normal(0, 0.05, len(smiles)))
    sol = 10 ** (2.0 - 0.6 * (logp - np.median(logp)) + rng.normal(0, 0.05, len(smiles)))
    clint_cells = np.where(clint < CLINT_FLOOR, f"<{CLINT_FLOOR:g}", np.char.mod("%.3f", clint)).astype(
        object
    )
    clint_missing = rng.random(len(smiles)) < 0.15
    clint_cells[clint_missing] = ""
    low = np.flatnonzero((clint < CLINT_FLOOR) & ~clint_missing)
    clint_cells[rng.choice(low, 5, replace=False)] = "0"  # exact zeros, as raw assay files have them
    above = sol > SOL_CEILING
    sol_cells = np.where(above, SOL_CEILING, np.round(sol, 3)).astype(object)
    sol_modifier = np.where(above, ">", "=").astype(object)
    missing = rng.random(len(smiles)) < 0.15
    sol_cells[missing], sol_modifier[missing] = "", ""
    columns = {"smiles": smiles, "clint": clint_cells, "sol": sol_cells, "sol modifier": sol_modifier}
    return pd.DataFrame({**columns, "quality": "high"})


def write_config(folder: Path, **extra: object) -> Path:
    config = {
        "data": {
            "path": "table.csv",
            "target_cols": ["clint", "sol"],
            "qualifier_cols": {"sol": "sol modifier"},
            "transforms": {"clint": {"log10": True, "floor": 1.0}, "sol": {"log10": True}},
        },
        "split": {"method": "random", "seed": 0},
        "model": MODEL,
        "optim": {"warmup_epochs": 1, "max_lr": 3.0e-3},
        "trainer": {
            "max_epochs": 20,
            "batch_size": 32,
            "early_stopping_patience": None,
            "progress_bar": False,
        },
        "output_dir": "run",
        **extra,
    }
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("censored")
    raw_unit_table().to_csv(folder / "table.csv", index=False)
    config_path = write_config(folder)
    result = CliRunner().invoke(app, ["train", str(config_path), "-q"])
    assert result.exit_code == 0, result.output
    return config_path, result


def test_hpo_train_reads_both_formats_and_reports_bounds(trained) -> None:
    config_path, result = trained
    assert "censored labels: share of predictions on the correct side" in result.output
    metrics = json.loads((config_path.parent / "run" / "metrics.json").read_text())
    assert metrics["test_bounds"]["clint"]["n_lt"] > 0 and metrics["test_bounds"]["sol"]["n_gt"] > 0
    assert metrics["test"]["clint"]["n"] > 0
    assert any("val/clint/bound_agreement" in epoch for epoch in metrics["history"])


def test_predictions_for_upper_bounds_sit_mostly_below_them(trained) -> None:
    config_path, _ = trained
    config = load_training_config(config_path)
    table, split = load_training_data(config)
    model = MPNN.load_from_file(config_path.parent / "run" / "best.pt", map_location="cpu")
    clint = table.target_names.index("clint")
    for part in (split.train, split.test):
        rows = part[table.censoring[part, clint] < 0]
        assert len(rows) >= 10
        loader = evaluation_loader(build_molecule_dataset(table, rows, FeatureCache(persist=False)), 256)
        predicted = predict(model, loader)[:, clint]
        bounds = table.targets[rows, clint]
        np.testing.assert_allclose(bounds, np.log10(CLINT_FLOOR))
        assert (predicted <= bounds).mean() >= 0.6, predicted - bounds


def test_chemprop_predict_loads_the_model_trained_with_the_bounded_loss(trained, tmp_path: Path) -> None:
    config_path, _ = trained
    pd.DataFrame({"smiles": ["CCO", "c1ccccc1O"]}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "preds.csv"
    chemprop = Path(sys.executable).with_name("chemprop")
    model = config_path.parent / "run" / "best.pt"
    command = [str(chemprop), "predict", "-i", str(tmp_path / "in.csv"), "-o", str(out), "--model-paths"]
    subprocess.run([*command, str(model)], check=True, capture_output=True, timeout=300)
    assert len(pd.read_csv(out)) == 2


def test_a_short_study_searches_the_censored_mode_with_bounds_as_a_curriculum_quality(tmp_path: Path) -> None:
    raw_unit_table().to_csv(tmp_path / "table.csv", index=False)
    curriculum = {"enabled": True, "qualities": ["high", "low"], "censored_quality": "low", "patience": 1}
    training = write_config(tmp_path, sampling={"curriculum": curriculum})
    space = {
        "parameters": {"censored": {"path": "censored", "type": "categorical", "choices": ["loss", "drop"]}}
    }
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {
        "name": "censored",
        "search_spaces": ["space.yaml"],
        "training_config": str(training),
        "max_epochs": 2,
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "output_dir": "out",
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml")])
    assert result.exit_code == 0, result.output
    loaded = load_study(tmp_path / "study.yaml")
    trials = optuna.load_study(study_name=versioned_study_name(loaded), storage=loaded.storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    client = mlflow.MlflowClient(loaded.mlflow_tracking_uri)
    for trial in trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert 0.0 <= run.data.metrics["test/clint/bound_agreement"] <= 1.0
        assert "val/sol/bound_agreement" in run.data.metrics
        # rows holding a bound are the curriculum's 'low' quality (the table itself has only 'high');
        # with 'drop' no bound is left, so no row is 'low'
        history = json.loads((Path(trial.user_attrs["output_dir"]) / "metrics.json").read_text())["history"]
        low_share = [epoch.get("sampler/share_quality/low", 0.0) for epoch in history]
        if trial.params["censored"] == "loss":
            assert all(0 < share < 0.5 for share in low_share), low_share
        else:
            assert low_share == [0.0] * len(history)


def test_a_public_challenge_layout_file_reads_with_a_few_line_config_and_trains(tmp_path: Path) -> None:
    """Columns as the public challenge files have them: an id, ``SMILES``, raw-unit endpoints with spaces
    in their names, a ``<endpoint> modifier`` column each, exact zeros, empty cells."""
    table = raw_unit_table(seed=1)
    challenge = pd.DataFrame(
        {
            "Molecule Name": [f"MOL-{i:04d}" for i in range(len(table))],
            "SMILES": table["smiles"],
            "HLM CLint": table["clint"].str.lstrip("<"),
            "HLM CLint modifier": np.where(
                table["clint"].str.startswith("<"), "<", np.where(table["clint"] == "", "", "=")
            ),
            "KSOL": table["sol"],
            "KSOL modifier": table["sol modifier"],
        }
    )
    assert (challenge["HLM CLint"] == "0").sum() == 5
    challenge.to_csv(tmp_path / "challenge.csv", index=False)
    (tmp_path / "challenge.yaml").write_text(
        "data:\n"
        "  path: challenge.csv\n"
        "  smiles_col: SMILES\n"
        "  target_cols: [HLM CLint, KSOL]\n"
        "  qualifier_cols: '{target} modifier'\n"
        "  transforms: {HLM CLint: {log10: true, offset: 1}, KSOL: {log10: true, offset: 1}}\n"
        "split: {method: random}\n"
        f"model: {json.dumps(MODEL)}\n"
        "trainer: {max_epochs: 3, progress_bar: false}\n"
        "output_dir: run\n",
        encoding="utf-8",
    )
    config = load_training_config(tmp_path / "challenge.yaml")
    loaded, _ = load_training_data(config)
    hlm = loaded.target_names.index("HLM CLint")
    assert (loaded.censoring[:, hlm] < 0).sum() == (challenge["HLM CLint modifier"] == "<").sum()
    assert np.nanmin(loaded.targets[:, hlm]) == 0.0  # log10(0 + 1)
    result = train(config)
    assert result.test_bounds["HLM CLint"].n_lt > 0
    assert np.isfinite(result.best_val_loss)
    assert set(result.test_metrics) == {"HLM CLint", "KSOL"}
