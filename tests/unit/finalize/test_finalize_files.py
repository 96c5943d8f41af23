"""The manifest, the ensemble folder and hpo predict's input and output tables: errors name the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from admet_hpo.errors import ConfigError, DataValidationError
from admet_hpo.finalize.build import prepare_folder
from admet_hpo.finalize.ensemble import EnsemblePrediction
from admet_hpo.finalize.manifest import read_manifest
from admet_hpo.finalize.tables import output_frame, read_smiles_input


def test_manifest_round_trips(make_ensemble) -> None:
    manifest = read_manifest(make_ensemble())
    assert manifest.task_names == ["a", "b"] and [m.name for m in manifest.members] == ["m0", "m1"]
    assert "test part never seen" in manifest.protocol


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "ensemble.json is missing"),
        ("{not json", "cannot read the ensemble manifest"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({"study": "s"}), "members: Field required"),
    ],
)
def test_bad_manifests_are_clear_errors(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "ensemble.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_manifest(tmp_path)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such ensemble folder"):
        read_manifest(tmp_path / "nowhere")


def test_prepare_folder_replaces_only_an_ensemble_and_only_when_asked(make_ensemble, tmp_path: Path) -> None:
    folder = make_ensemble()
    with pytest.raises(ConfigError, match="not empty; pass --overwrite"):
        prepare_folder(folder, overwrite=False)
    prepare_folder(folder, overwrite=True)
    assert folder.is_dir() and not any(folder.iterdir())
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"besides ensemble\.json and members/, so it is not an ensemble"):
        prepare_folder(other, overwrite=True)
    assert (other / "keep.txt").is_file()
    interrupted = tmp_path / "interrupted"
    (interrupted / "members" / "m0").mkdir(parents=True)
    prepare_folder(interrupted, overwrite=True)
    assert interrupted.is_dir() and not any(interrupted.iterdir())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        prepare_folder(tmp_path / "file", overwrite=True)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "in.csv",
            "name\nCCO\n",
            r"in.csv: no SMILES column 'smiles' \(columns: name\); name it with --smiles-col",
        ),
        ("in.csv", "", r"in.csv: the file is empty"),
        ("in.csv", "smiles\n", r"in.csv: no rows to predict"),
        ("in.txt", "smiles\nCCO\n", r"unsupported table format '.txt'"),
    ],
)
def test_bad_input_tables_are_clear_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataValidationError, match=message):
        read_smiles_input(tmp_path / name, "smiles")


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="file not found"):
        read_smiles_input(tmp_path / "absent.csv", "smiles")


def test_rows_keep_their_file_lines_and_clashing_columns_are_renamed(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("smiles,a\nCCO,1\n\n,2\nxx,3\n", encoding="utf-8")
    source = read_smiles_input(tmp_path / "in.csv", "smiles")
    assert source.smiles == ["CCO", None, "xx"]
    assert [source.location(i) for i in range(3)] == ["line 2", "line 4", "line 5"]
    prediction = EnsemblePrediction(("a",), np.array([[1.5], [np.nan], [np.nan]]), np.zeros((3, 1)), {})
    frame, renamed = output_frame(source, prediction)
    assert renamed == ["a"]
    assert list(frame.columns) == ["smiles", "a_input", "a", "a_sd"]
    assert list(frame["a_input"]) == ["1", "2", "3"] and frame["a"][0] == 1.5
