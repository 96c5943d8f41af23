"""A study session's locations: flag > environment > study file, resolved once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from admet_hpo.orchestration.session import StudySession, location_environment, resolve_locations

SPACE = {"parameters": {"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-2}}}


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout" / "studies"
    folder.mkdir(parents=True)
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    study = {
        "name": "s",
        "search_spaces": ["space.yaml"],
        "data": {"dataset": "demo"},
        "n_trials": 1,
        "output_dir": "../runs/s",
        "storage": "sqlite:///../db/optuna.db",
        "mlflow": {"tracking_uri": "http://file-mlflow:5000"},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in ("ADMET_HPO_STORAGE", "MLFLOW_TRACKING_URI", "ADMET_HPO_OUTPUT"):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_study_file_decides_when_nothing_else_is_given_relative_to_its_folder(
    study_file: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    study = StudySession.open(study_file).study
    checkout = study_file.parent.parent
    assert study.output_dir == checkout / "runs" / "s"
    assert study.storage == f"sqlite:///{checkout / 'db' / 'optuna.db'}"
    assert study.mlflow_tracking_uri == "http://file-mlflow:5000"
    assert study.file_storage == study.storage


def test_a_storage_given_from_outside_keeps_the_study_file_own_as_the_proxied_database(
    study_file: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """Behind ``--storage grpc://...`` the workers take the budget lock on the study file's database."""
    study = StudySession.open(study_file, storage="grpc://proxy:13000").study
    assert study.storage == "grpc://proxy:13000"
    assert study.file_storage == f"sqlite:///{study_file.parent.parent / 'db' / 'optuna.db'}"
    clean_environment.setenv("ADMET_HPO_STORAGE", "grpc://proxy:13000")  # how a launched worker gets it
    assert StudySession.open(study_file).study.file_storage == study.file_storage


def test_the_environment_beats_the_file_and_a_flag_beats_the_environment(
    study_file: Path, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_environment.chdir(tmp_path)
    clean_environment.setenv("ADMET_HPO_STORAGE", "sqlite:///env.db")
    clean_environment.setenv("MLFLOW_TRACKING_URI", "http://env-mlflow:5000")
    clean_environment.setenv("ADMET_HPO_OUTPUT", "env-out")
    study = StudySession.open(study_file).study
    assert (study.storage, study.mlflow_tracking_uri) == (
        f"sqlite:///{tmp_path / 'env.db'}",
        "http://env-mlflow:5000",
    )
    assert study.output_dir == tmp_path / "env-out"  # relative to the working directory, as on a command line
    flagged = StudySession.open(
        study_file, storage="sqlite:///flag.db", tracking_uri="http://flag:5000", output_dir=Path("flag-out")
    ).study
    assert flagged.storage == f"sqlite:///{tmp_path / 'flag.db'}"
    assert (flagged.mlflow_tracking_uri, flagged.output_dir) == ("http://flag:5000", tmp_path / "flag-out")


def test_an_output_folder_moves_the_default_storage_and_tracking_store(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    path = tmp_path / "study.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "s", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
        ),
        encoding="utf-8",
    )
    study = StudySession.open(path, output_dir=tmp_path / "elsewhere").study
    assert study.storage == f"sqlite:///{tmp_path / 'elsewhere' / 'optuna.db'}"
    assert study.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    # a launched worker resolves the same locations from the environment it is given
    assert resolve_locations(environ=location_environment(study)).output_dir == study.output_dir


def test_empty_variables_count_as_unset() -> None:
    environ = {"ADMET_HPO_STORAGE": "", "MLFLOW_TRACKING_URI": "", "ADMET_HPO_OUTPUT": ""}
    locations = resolve_locations(environ=environ)
    assert (locations.storage, locations.tracking_uri, locations.output_dir) == (None, None, None)
