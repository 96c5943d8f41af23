"""Molecule descriptors in real chemprop training and in a real study (SQLite + MLflow): they widen the
model's input, are scaled on the training split, load in `chemprop predict`, and are computed once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from chemprop.models import MPNN
from optuna.trial import TrialState
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.study import load_study
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data import descriptors as descriptors_module
from admet_hpo.data.descriptors import molecule_descriptors
from admet_hpo.data.training_data import load_training_data
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.training.run import labelled_rows, train

pytestmark = pytest.mark.integration

MODEL = {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16}


def small_config(output_dir: Path, descriptors: str) -> TrainingConfig:
    raw = {
        "data": {"dataset": "demo"},
        "model": {**MODEL, "descriptors": descriptors},
        "optim": {"warmup_epochs": 1},
        "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
        "output_dir": str(output_dir),
    }
    return validate_mapping(TrainingConfig, raw, source="test")


@pytest.fixture(scope="module")
def with_rdkit2d(tmp_path_factory: pytest.TempPathFactory):
    return train(small_config(tmp_path_factory.mktemp("rdkit2d"), "rdkit2d"))


def test_descriptors_widen_the_ffn_input_and_the_model_scales_them(with_rdkit2d, tmp_path: Path) -> None:
    plain = train(small_config(tmp_path / "plain", "none"))
    ours = MPNN.load_from_file(with_rdkit2d.model_path, map_location="cpu")
    theirs = MPNN.load_from_file(plain.model_path, map_location="cpu")
    width = molecule_descriptors(["CCO"], "rdkit2d").shape[1]
    assert ours.predictor.input_dim == theirs.predictor.input_dim + width == 16 + width
    config = small_config(tmp_path, "rdkit2d")
    table, split = load_training_data(config)
    raw = molecule_descriptors(table.smiles, "rdkit2d")
    train_rows = labelled_rows(table, split.train)
    scale = raw[train_rows].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(
        ours.X_d_transform.mean.numpy().ravel(), raw[train_rows].mean(axis=0, dtype=np.float64), rtol=1e-4
    )
    np.testing.assert_allclose(
        ours.X_d_transform.scale.numpy().ravel(), np.where(scale > 0, scale, 1.0), rtol=1e-3
    )
    assert set(with_rdkit2d.test_metrics) == set(table.target_names)


def test_chemprop_and_hpo_predict_featurise_descriptors_alike(with_rdkit2d, tmp_path: Path) -> None:
    from admet_hpo.data.featurize import FeatureCache
    from admet_hpo.data.loading import load_table
    from admet_hpo.data.table import TableSpec
    from admet_hpo.finalize.ensemble import member_dataset
    from admet_hpo.training.prediction import evaluation_loader, predict

    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    (tmp_path / "in.csv").write_text("smiles,y\n" + "".join(f"{s},1\n" for s in smiles), encoding="utf-8")
    out = tmp_path / "preds.csv"
    chemprop = Path(sys.executable).with_name("chemprop")
    subprocess.run(
        [
            str(chemprop),
            "predict",
            "-i",
            str(tmp_path / "in.csv"),
            "--model-paths",
            str(with_rdkit2d.model_path),
            "--molecule-featurizers",
            "rdkit_2d",
            "-o",
            str(out),
            "--accelerator",
            "cpu",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    theirs = pd.read_csv(out)[list(with_rdkit2d.task_names)].to_numpy()
    table = load_table(tmp_path / "in.csv", TableSpec(target_cols=("y",)))
    model = MPNN.load_from_file(with_rdkit2d.model_path, map_location="cpu")
    # the prediction path of `hpo predict` (an ensemble member trained with descriptors)
    dataset = member_dataset(small_config(tmp_path, "rdkit2d"), table, FeatureCache(persist=False))
    ours = predict(model, evaluation_loader(dataset, 8))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_a_study_searches_descriptors_and_computes_them_once(
    forget_molecules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_molecules()
    computed: list[int] = []
    real_compute = descriptors_module.DescriptorCache.compute

    def counting(self, distinct):
        computed.append(len(distinct))
        return real_compute(self, distinct)

    monkeypatch.setattr(descriptors_module.DescriptorCache, "compute", counting)
    space = {
        "parameters": {
            "descriptors": {"path": "model.descriptors", "type": "categorical", "choices": ["morgan_count"]},
            "max_lr": {"path": "optim.max_lr", "type": "float", "low": 5.0e-4, "high": 2.0e-3, "log": True},
        }
    }
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {
                "name": "descriptors-it",
                "search_spaces": ["space.yaml"],
                "training": {
                    "data": {"dataset": "demo"},
                    "model": {**MODEL, "descriptors": "morgan_count"},
                    "optim": {"warmup_epochs": 1},
                    "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
                },
                "sampler": {"type": "random", "seed": 0},
                "pruner": {"type": "none"},
                "n_trials": 2,
                "output_dir": "out",
            }
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["run", str(study_file), "-q"])
    assert result.exit_code == 0, result.output
    study = load_study(study_file)
    trials = optuna.load_study(study_name=versioned_study_name(study), storage=study.storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(t.params["descriptors"] == "morgan_count" for t in trials)
    table, _ = load_training_data(study.base_training)
    assert computed == [len(set(table.smiles))], "the first trial computes, the second reads the cache"
    for trial in trials:
        model = MPNN.load_from_file(Path(trial.user_attrs["output_dir"]) / "best.pt", map_location="cpu")
        assert model.predictor.input_dim == 16 + 2048
