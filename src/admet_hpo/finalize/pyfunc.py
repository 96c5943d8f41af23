"""The ensemble as an MLflow ``pyfunc`` model: a SMILES column in, ``<task>`` and ``<task>_sd`` out.

The logged model holds the ensemble folder as its artifact ``ensemble`` and this package's source as
its code (so the model loads with ``mlflow.pyfunc.load_model`` wherever chemprop and the packages of
:func:`runtime_requirements` are installed); it is logged "from code"
(:mod:`admet_hpo.finalize.model_code`), so loading it unpickles no Python object. Predictions are
:meth:`Ensemble.predict`'s: raw units, members' spread on the modelled scale, NaN for a SMILES RDKit
cannot parse.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types import ColSpec, DataType, Schema

from admet_hpo.finalize.ensemble import Ensemble, load_ensemble, prediction_columns
from admet_hpo.finalize.manifest import EnsembleManifest

#: The artifact key of the ensemble folder inside the logged model.
ARTIFACT_KEY = "ensemble"
#: Distributions the model needs at load time besides its own code (pinned to this environment's).
RUNTIME_PACKAGES = (
    "chemprop",
    "torch",
    "lightning",
    "rdkit",
    "mlflow",
    "pydantic",
    "pyyaml",
    "numpy",
    "pandas",
)


def ensemble_signature(manifest: EnsembleManifest) -> ModelSignature:
    """Input: one string column named like the training table's SMILES column; output: a double column
    per task and one per task's ensemble sd (:func:`prediction_columns`)."""
    inputs = Schema([ColSpec(DataType.string, manifest.smiles_col)])
    outputs = Schema([ColSpec(DataType.double, name) for name in prediction_columns(manifest.task_names)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def runtime_requirements() -> list[str]:
    """``name==version`` of each of :data:`RUNTIME_PACKAGES` installed here."""
    pins = []
    for name in RUNTIME_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


class EnsembleModel(mlflow.pyfunc.PythonModel):
    """``pyfunc`` wrapper of an ensemble folder (see the module docstring)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self._ensemble: Ensemble = load_ensemble(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """One output row per input row; the SMILES column is the signature's (the training table's)."""
        column = self._ensemble.manifest.smiles_col
        if column not in model_input.columns:
            raise ValueError(f"the input has no column {column!r} (columns: {list(model_input.columns)})")
        smiles = [None if pd.isna(value) else str(value) for value in model_input[column]]
        return self._ensemble.predict(smiles).frame()
