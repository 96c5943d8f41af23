"""``hpo finalize`` and ``hpo predict`` for real: a short study on the demo data (real chemprop, SQLite
Optuna storage, SQLite MLflow store with its model registry), its top-2 trials retrained with 2 seeds,
predictions compared with ``chemprop predict`` run on every member, the registered model loaded back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.loading import read_yaml_mapping, validate_mapping
from admet_hpo.config.study import load_study
from admet_hpo.config.training import TrainingConfig
from admet_hpo.finalize.ensemble import prediction_columns
from admet_hpo.finalize.manifest import read_manifest
from admet_hpo.search.versioning import versioned_study_name

pytestmark = pytest.mark.integration

LOGD_OFFSET = 2.0  # logD is modelled as log10(logD + 2): predictions must come back through 10**y - 2
GOOD_SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "N1CCOCC1C(=O)c1ccncc1"]


def write_study(folder: Path) -> Path:
    space = {"parameters": {"max_lr": {"path": "optim.max_lr", "type": "float", "low": 1e-3, "high": 5e-3}}}
    (folder / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {
        "name": "final-itest",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo", "transforms": {"logD": {"offset": LOGD_OFFSET, "log10": True}}},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 3, "early_stopping_patience": None, "progress_bar": False},
        },
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def finalized(tmp_path_factory: pytest.TempPathFactory):
    """(study file, ensemble folder, output) after 'hpo run' and 'hpo finalize --top-k 2 --seeds 2'."""
    folder = tmp_path_factory.mktemp("final")
    study_file = write_study(folder)
    ran = invoke("run", study_file, "--quiet")
    assert ran.exit_code == 0, ran.output
    done = invoke("finalize", study_file, "--top-k", "2", "--seeds", "2")
    assert done.exit_code == 0, done.output
    return study_file, load_study(study_file).output_dir / "ensemble", done.output


@pytest.fixture(scope="module")
def predicted(finalized, tmp_path_factory: pytest.TempPathFactory):
    """'hpo predict STUDY.yaml' on good SMILES with a bad one and an empty cell among them."""
    study_file, _, _ = finalized
    folder = tmp_path_factory.mktemp("predict")
    rows = [*GOOD_SMILES[:2], "C1CC(", *GOOD_SMILES[2:], ""]
    pd.DataFrame({"smiles": rows, "id": [f"m{i}" for i in range(len(rows))]}).to_csv(
        folder / "in.csv", index=False
    )
    out = folder / "out.csv"
    result = invoke("predict", study_file, folder / "in.csv", "-o", out)
    assert result.exit_code == 0, result.output
    return pd.read_csv(out), result


def test_finalize_retrains_the_top_trials_with_each_seed(finalized) -> None:
    study_file, ensemble, output = finalized
    study = load_study(study_file)
    optuna_study = optuna.load_study(study_name=versioned_study_name(study), storage=study.storage)
    ranked = sorted(optuna_study.trials, key=lambda t: t.value)
    manifest = read_manifest(ensemble)
    assert [(m.trial, m.seed) for m in manifest.members] == [
        (ranked[0].number, 0),
        (ranked[0].number, 1),
        (ranked[1].number, 0),
        (ranked[1].number, 1),
    ]
    for member in manifest.members:
        config = validate_mapping(TrainingConfig, read_yaml_mapping(ensemble / member.config), "member")
        assert config.trainer.seed == member.seed
        assert config.optim.max_lr == ranked[0 if member.trial == ranked[0].number else 1].params["max_lr"]
        assert (ensemble / member.model).is_file()
        assert not (ensemble / member.model).with_name("checkpoints").exists()
    # a trial's first member trains exactly as the trial did (the study metric is val_loss)
    assert manifest.members[0].best_val_loss == pytest.approx(ranked[0].value, rel=1e-5)
    assert manifest.members[1].best_val_loss != pytest.approx(ranked[0].value, rel=1e-5)
    assert manifest.task_names == ["logD", "solubility", "clearance", "permeability", "toxicity"]
    assert np.isfinite(manifest.metrics["test/mean_rmse"]) and "val/logD/pearson_r" in manifest.metrics
    assert "4 member(s)" in output and "version 1" in output


def chemprop_predict(model: Path, smiles_file: Path, out: Path) -> pd.DataFrame:
    chemprop = Path(sys.executable).with_name("chemprop")
    command = [chemprop, "predict", "-i", smiles_file, "--model-paths", model, "-o", out]
    subprocess.run([*map(str, command), "--accelerator", "cpu"], check=True, capture_output=True, timeout=300)
    return pd.read_csv(out)


def test_hpo_predict_is_the_mean_of_the_members_chemprop_predictions(finalized, predicted, tmp_path) -> None:
    _, ensemble, _ = finalized
    frame, _ = predicted
    manifest = read_manifest(ensemble)
    pd.DataFrame({"smiles": GOOD_SMILES}).to_csv(tmp_path / "good.csv", index=False)
    members = np.stack(
        [
            chemprop_predict(ensemble / m.model, tmp_path / "good.csv", tmp_path / f"{m.name}.csv")[
                manifest.task_names
            ].to_numpy(dtype=float)
            for m in manifest.members
        ]
    )
    good = frame[frame["smiles"].isin(GOOD_SMILES)]
    assert list(good["smiles"]) == GOOD_SMILES
    mean, sd = members.mean(axis=0), members.std(axis=0)
    assert (sd > 0).all()  # four different models
    for t, task in enumerate(manifest.task_names):
        expected = 10.0 ** mean[:, t] - LOGD_OFFSET if task == "logD" else mean[:, t]
        np.testing.assert_allclose(good[task].to_numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(good[f"{task}_sd"].to_numpy(), sd[:, t], rtol=1e-4, atol=1e-6)


def test_unparsable_and_empty_smiles_are_reported_by_line_and_left_empty(predicted) -> None:
    frame, result = predicted
    assert len(frame) == 6 and list(frame["id"]) == [f"m{i}" for i in range(6)]
    assert frame.loc[[2, 5], "logD":].isna().all().all()
    assert frame.drop(index=[2, 5]).loc[:, "logD":].notna().all().all()
    assert "2 of 6 row(s) not predicted" in result.output
    assert "line 4: 'C1CC(' RDKit cannot parse this SMILES" in result.output
    assert "line 7: empty SMILES" in result.output


def test_the_registered_model_loads_with_pyfunc_and_predicts(finalized, predicted) -> None:
    study_file, ensemble, _ = finalized
    frame, _ = predicted
    study = load_study(study_file)
    manifest = read_manifest(ensemble)
    client = mlflow.MlflowClient(study.mlflow_tracking_uri, registry_uri=study.mlflow_tracking_uri)
    version = client.get_model_version("final-itest", "1")
    run = client.get_run(version.run_id)
    assert run.data.tags["admet_hpo.role"] == "ensemble" and run.info.status == "FINISHED"
    assert run.data.metrics["test/mean_rmse"] == pytest.approx(manifest.metrics["test/mean_rmse"])
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    environment = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(study.mlflow_tracking_uri)
    mlflow.set_registry_uri(study.mlflow_tracking_uri)
    try:
        model = mlflow.pyfunc.load_model("models:/final-itest/1")
    finally:  # MLflow also sets the environment variables (for subprocesses): put them back too
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert model.metadata.get_input_schema().input_names() == ["smiles"]
    assert model.metadata.get_output_schema().input_names() == prediction_columns(manifest.task_names)
    out = model.predict(pd.DataFrame({"smiles": [*GOOD_SMILES, "not a smiles"]}))
    assert list(out.columns) == prediction_columns(manifest.task_names)
    expected = frame[frame["smiles"].isin(GOOD_SMILES)][list(out.columns)].to_numpy()
    np.testing.assert_allclose(out.iloc[:4].to_numpy(), expected, rtol=1e-5)
    assert out.iloc[4].isna().all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,id\nCCO,1\n", "no SMILES column 'smiles' (columns: name, id); name it with --smiles-col"),
        ("", "the file is empty"),
        ("smiles,id\n", "no rows to predict"),
    ],
)
def test_bad_input_tables_are_clear_errors(finalized, tmp_path: Path, content: str, message: str) -> None:
    _, ensemble, _ = finalized
    (tmp_path / "in.csv").write_text(content, encoding="utf-8")
    result = invoke("predict", ensemble, tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_smiles_col_names_another_column(finalized, tmp_path: Path) -> None:
    _, ensemble, _ = finalized
    pd.DataFrame({"structure": ["CCO"], "logD": [1.0]}).to_csv(tmp_path / "in.csv", index=False)
    result = invoke(
        "predict", ensemble, tmp_path / "in.csv", "-o", tmp_path / "o.csv", "--smiles-col", "structure"
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "o.csv")
    assert list(frame.columns[:3]) == ["structure", "logD_input", "logD"] and frame["logD_input"][0] == 1.0
    assert "renamed" in result.output


def test_finalize_refuses_to_overwrite_without_the_flag(finalized) -> None:
    study_file, ensemble, _ = finalized
    before = json.loads((ensemble / "ensemble.json").read_text())
    result = invoke("finalize", study_file, "--seeds", "1", "--no-register")
    assert result.exit_code == 2 and "not empty; pass --overwrite" in result.output
    assert json.loads((ensemble / "ensemble.json").read_text()) == before


def test_finalize_with_more_trials_asked_than_completed_warns_and_can_skip_mlflow(
    finalized, tmp_path
) -> None:
    study_file, _, _ = finalized
    study = load_study(study_file)
    client = mlflow.MlflowClient(study.mlflow_tracking_uri, registry_uri=study.mlflow_tracking_uri)
    versions = len(client.search_model_versions("name='final-itest'"))
    result = invoke(
        "finalize", study_file, "--top-k", "5", "--seeds", "1", "--no-register", "-o", tmp_path / "e"
    )
    assert result.exit_code == 0, result.output
    assert "asked for the top 5 trials, the study has 2 completed" in result.output
    assert len(read_manifest(tmp_path / "e").members) == 2
    assert len(client.search_model_versions("name='final-itest'")) == versions
