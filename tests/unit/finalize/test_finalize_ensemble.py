"""Loading an ensemble folder and predicting: member mean and sd, inverted transforms, bad SMILES rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chemprop.models import MPNN

from admet_hpo.config.training import TargetTransformConfig
from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.errors import ConfigError
from admet_hpo.finalize.ensemble import load_ensemble, molecule_table, prediction_columns
from admet_hpo.training.prediction import evaluation_loader, predict

SMILES = ["CCO", "not-a-smiles", "c1ccccc1O", None, "CC(=O)N"]


def direct_predictions(folder: Path, smiles: list[str]) -> np.ndarray:
    """Each member's predictions of ``smiles`` computed here, without the ensemble code."""
    table = molecule_table(smiles, ("a", "b"), "test")
    dataset = build_molecule_dataset(table, np.arange(len(smiles)), FeatureCache(persist=False))
    models = sorted((folder / "members").glob("*/best.pt"))
    return np.stack([predict(MPNN.load_from_file(path), evaluation_loader(dataset, 8)) for path in models])


def test_prediction_is_the_members_mean_with_their_sd_and_bad_rows_left_empty(make_ensemble) -> None:
    log_a = TargetTransformConfig(offset=1.0, log10=True)
    folder = make_ensemble(members=3, transforms={"a": log_a})
    result = load_ensemble(folder).predict(SMILES)
    members = direct_predictions(folder, ["CCO", "c1ccccc1O", "CC(=O)N"])
    good = [0, 2, 4]
    np.testing.assert_allclose(result.values[good, 0], 10.0 ** members.mean(axis=0)[:, 0] - 1.0, rtol=1e-6)
    np.testing.assert_allclose(result.values[good, 1], members.mean(axis=0)[:, 1], rtol=1e-6)
    np.testing.assert_allclose(result.sd[good], members.std(axis=0), rtol=1e-5)
    assert (result.sd[good] > 0).all()
    assert np.isnan(result.values[[1, 3]]).all() and np.isnan(result.sd[[1, 3]]).all()
    assert result.errors == {1: "RDKit cannot parse this SMILES", 3: "empty SMILES"}
    frame = result.frame()
    assert list(frame.columns) == prediction_columns(("a", "b")) == ["a", "a_sd", "b", "b_sd"]
    assert len(frame) == len(SMILES)


def test_chunks_give_the_same_predictions(make_ensemble, monkeypatch) -> None:
    from admet_hpo.finalize import ensemble as ensemble_module

    ensemble = load_ensemble(make_ensemble())
    whole = ensemble.predict(SMILES)
    monkeypatch.setattr(ensemble_module, "CHUNK_ROWS", 2)
    chunked = ensemble.predict(SMILES)
    np.testing.assert_array_equal(chunked.values, whole.values)
    np.testing.assert_array_equal(chunked.sd, whole.sd)
    assert chunked.errors == whole.errors


def test_one_member_has_zero_sd_and_no_valid_smiles_predicts_nothing(make_ensemble) -> None:
    ensemble = load_ensemble(make_ensemble(members=1))
    assert (ensemble.predict(["CCO"]).sd == 0).all()
    empty = ensemble.predict(["xx", ""])
    assert np.isnan(empty.values).all() and sorted(empty.errors) == [0, 1]


def test_missing_or_broken_member_files_are_clear_errors(make_ensemble) -> None:
    folder = make_ensemble()
    (folder / "members" / "m1" / "best.pt").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"m1/best.pt: cannot load the chemprop model"):
        load_ensemble(folder)
    (folder / "members" / "m1" / "best.pt").unlink()
    with pytest.raises(ConfigError, match=r"member m1: model file .*best.pt is missing"):
        load_ensemble(folder)


def test_a_model_with_other_tasks_than_the_manifest_is_refused(make_ensemble) -> None:
    folder = make_ensemble()
    manifest = json.loads((folder / "ensemble.json").read_text())
    manifest["task_names"] = ["a", "b", "c"]
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="predicts 2 tasks, the manifest lists 3"):
        load_ensemble(folder)


def test_the_pyfunc_wrapper_predicts_a_frame_and_names_a_missing_column(make_ensemble) -> None:
    import mlflow.pyfunc

    from admet_hpo.finalize.pyfunc import EnsembleModel, ensemble_signature, runtime_requirements

    folder = make_ensemble()
    model = EnsembleModel()
    model.load_context(mlflow.pyfunc.PythonModelContext(artifacts={"ensemble": str(folder)}, model_config={}))
    out = model.predict(None, pd.DataFrame({"smiles": ["CCO", None]}))
    expected = load_ensemble(folder).predict(["CCO", None]).frame()
    pd.testing.assert_frame_equal(out, expected)
    with pytest.raises(ValueError, match="no column 'smiles'"):
        model.predict(None, pd.DataFrame({"SMILES": ["CCO"]}))
    signature = ensemble_signature(load_ensemble(folder).manifest)
    assert signature.inputs.input_names() == ["smiles"]
    assert signature.outputs.input_names() == ["a", "a_sd", "b", "b_sd"]
    assert any(pin.startswith("chemprop==") for pin in runtime_requirements())
