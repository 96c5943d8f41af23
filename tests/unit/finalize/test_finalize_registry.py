"""Logging an ensemble to MLflow (real SQLite store): the study's experiment must exist; a failure while
logging leaves the run FAILED and is a clear error."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from admet_hpo.errors import ConfigError
from admet_hpo.finalize.manifest import read_manifest
from admet_hpo.finalize.registry import log_ensemble


def test_a_store_without_the_study_experiment_is_a_clear_error(make_ensemble, tmp_path: Path) -> None:
    folder = make_ensemble()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match="has no active experiment 's-abc'"):
        log_ensemble(folder, read_manifest(folder), uri)


def test_a_failed_logging_marks_the_run_failed(make_ensemble, tmp_path: Path, monkeypatch) -> None:
    folder = make_ensemble()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("s-abc", artifact_location=str(tmp_path / "artifacts"))

    def refuse(**kwargs: object) -> None:
        raise MlflowException("registry unavailable")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", refuse)
    with pytest.raises(ConfigError, match="cannot log or register the ensemble: registry unavailable"):
        log_ensemble(folder, read_manifest(folder), uri, parent_run_id="p")
    (run,) = client.search_runs([experiment])
    assert run.info.status == "FAILED" and run.data.tags["admet_hpo.role"] == "ensemble"
    assert run.data.tags["mlflow.parentRunId"] == "p" and run.data.params["n_members"] == "2"
    assert mlflow.get_tracking_uri() != uri
