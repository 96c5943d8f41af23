"""Logging a finalized ensemble to the study's MLflow experiment and registering it under the study name.

One run per ``hpo finalize``, in the study's experiment (which the study's trials created), named
``ensemble`` and tagged ``admet_hpo.role = ensemble`` and with the study name, its parent the study's
run when there is one. It holds the manifest's parameters (protocol, members, seeds) and the ensemble's
validation and test metrics, the manifest as an artifact, and the ``pyfunc`` model
(:mod:`admet_hpo.finalize.pyfunc`) registered as a new version of the registered model named after the
study. The model registry needs a database-backed store (the default ``sqlite:///.../mlflow.db``) or a
tracking server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from admet_hpo.errors import ConfigError
from admet_hpo.finalize.manifest import MANIFEST_FILE, EnsembleManifest
from admet_hpo.masking import mask_text, mask_url
from admet_hpo.tracking.keys import mlflow_key

MODEL_NAME = "model"
RUN_NAME = "ensemble"
ROLE = "ensemble"
#: The input example stored with the model (MLflow checks that the model predicts it when logging).
EXAMPLE_SMILES = "CCO"


@dataclass(frozen=True)
class RegisteredEnsemble:
    """Where the ensemble went: its run, its model URI and its registered name and version."""

    run_id: str
    model_uri: str
    registered_name: str
    version: str

    @property
    def registry_uri(self) -> str:
        """``models:/<name>/<version>``, loadable with ``mlflow.pyfunc.load_model``."""
        return f"models:/{self.registered_name}/{self.version}"


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``log_model`` has no other) pointed at ``uri`` for tracking and the registry
    during the block; afterwards the URIs it resolved before, and the environment variables MLflow sets
    for subprocesses, are restored."""
    import mlflow

    previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    environment = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous_tracking)
        mlflow.set_registry_uri(previous_registry)
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_params(manifest: EnsembleManifest) -> dict[str, str]:
    members = manifest.members
    return {
        "protocol": manifest.protocol,
        "optuna_study": manifest.optuna_study,
        "metric": manifest.metric,
        "n_members": str(len(members)),
        "trials": ",".join(str(t) for t in dict.fromkeys(m.trial for m in members)),
        "seeds": ",".join(str(s) for s in dict.fromkeys(m.seed for m in members)),
        "tasks": ",".join(manifest.task_names),
    }


def log_ensemble(
    folder: Path, manifest: EnsembleManifest, tracking_uri: str, parent_run_id: str | None = None
) -> RegisteredEnsemble:
    """Log the ensemble folder ``folder`` (see the module docstring) to ``tracking_uri`` and register it
    as a new version of the model named ``manifest.study``. :class:`ConfigError` when the store has no
    experiment for the study (its trials never logged there) or cannot register models."""
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from admet_hpo.finalize.pyfunc import ARTIFACT_KEY, ensemble_signature, runtime_requirements
    from admet_hpo.tracking.keys import PARENT_RUN_TAG, ROLE_TAG, STUDY_NAME_TAG

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(manifest.optuna_study)
    if experiment is None or experiment.lifecycle_stage != "active":
        raise ConfigError(
            f"MLflow store {mask_url(tracking_uri)} has no active experiment {manifest.optuna_study!r} "
            "(the study's trials log there): check the study's mlflow.tracking_uri"
        )
    tags = {ROLE_TAG: ROLE, STUDY_NAME_TAG: manifest.optuna_study}
    if parent_run_id is not None:
        tags[PARENT_RUN_TAG] = parent_run_id
    package_dir = Path(__file__).resolve().parents[1]
    with _tracking_uri(tracking_uri):
        run = client.create_run(experiment.experiment_id, run_name=RUN_NAME, tags=tags)
        run_id = run.info.run_id
        status = "FAILED"
        try:
            for key, value in _run_params(manifest).items():
                client.log_param(run_id, key, mask_text(value)[:6000])
            for key, value in manifest.metrics.items():
                client.log_metric(run_id, mlflow_key(key), value)
            client.log_artifact(run_id, str(folder / MANIFEST_FILE))
            with mlflow.start_run(run_id=run_id):
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME,
                    python_model=str(Path(__file__).with_name("model_code.py")),
                    artifacts={ARTIFACT_KEY: str(folder)},
                    code_paths=[str(package_dir)],
                    signature=ensemble_signature(manifest),
                    input_example=pd.DataFrame({manifest.smiles_col: [EXAMPLE_SMILES]}),
                    pip_requirements=runtime_requirements(),
                    registered_model_name=manifest.study,
                )
            status = "FINISHED"
        except MlflowException as exc:
            raise ConfigError(
                f"MLflow store {mask_url(tracking_uri)}: cannot log or register the ensemble: "
                f"{mask_text(str(exc))}"
            ) from None
        finally:
            client.set_terminated(run_id, status=status)
    version = str(info.registered_model_version)
    return RegisteredEnsemble(run_id, info.model_uri, manifest.study, version)
