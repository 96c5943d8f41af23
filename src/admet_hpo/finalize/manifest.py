"""The ensemble folder written by ``hpo finalize`` and its manifest, ``ensemble.json``.

Layout (every path in the manifest is relative to the folder, so the folder can be moved or copied,
e.g. into MLflow's artifact store)::

    <folder>/ensemble.json                 this manifest
    <folder>/members/<member>/config.yaml  the member's resolved training config (runnable by hpo train)
    <folder>/members/<member>/best.pt      its chemprop model file (loadable by chemprop predict)
    <folder>/members/<member>/metrics.json its training summary (per-task val/test metrics, history)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from admet_hpo.config.base import StrictModel
from admet_hpo.config.loading import format_validation_error
from admet_hpo.config.training import TargetTransformConfig
from admet_hpo.errors import ConfigError

MANIFEST_FILE = "ensemble.json"
MEMBERS_DIR = "members"
#: The default ensemble folder's name under a study's output folder.
DEFAULT_FOLDER_NAME = "ensemble"

#: How members are trained; stated in the manifest, the docs and ``hpo finalize --help``.
PROTOCOL = (
    "each member is its trial's resolved config retrained with another trainer.seed (trial seed + i, "
    "i = 0..seeds-1) on the study's own split: trained on the train part, the best epoch chosen on "
    "val_loss (with the config's early stopping), the test part never seen"
)


class MemberRecord(StrictModel):
    """One member: the trial it retrains, its seed, where its files are and how its training went."""

    name: str
    trial: int
    seed: int
    trial_value: float | None = Field(description="The trial's study metric value in the study.")
    best_val_loss: float
    epochs_run: int
    config: str = Field(description="Resolved training config (YAML), relative to the folder.")
    model: str = Field(description="chemprop model file (best.pt), relative to the folder.")


class EnsembleManifest(StrictModel):
    """What an ensemble is: its study, the tasks it predicts (on the modelled scale, ``transforms``
    mapping them back to raw units), its members and the ensemble's own validation and test metrics
    (flat ``val/<task>/<metric>`` keys on the modelled scale)."""

    format: Literal[1] = 1
    study: str
    optuna_study: str
    metric: str
    direction: Literal["minimize", "maximize"]
    protocol: str = PROTOCOL
    smiles_col: str
    task_names: list[str] = Field(min_length=1)
    transforms: dict[str, TargetTransformConfig] = Field(default_factory=dict)
    data_hash: str
    split_hash: str
    members: list[MemberRecord] = Field(min_length=1)
    metrics: dict[str, float] = Field(default_factory=dict)


def manifest_path(folder: Path) -> Path:
    """The manifest file of the ensemble folder ``folder``."""
    return Path(folder) / MANIFEST_FILE


def write_manifest(folder: Path, manifest: EnsembleManifest) -> Path:
    """Write ``manifest`` as ``<folder>/ensemble.json`` and return its path."""
    path = manifest_path(folder)
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> EnsembleManifest:
    """The manifest of the ensemble folder ``folder``; :class:`ConfigError` naming the folder or file when
    it is missing, not JSON, or not a manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such ensemble folder (write one with 'hpo finalize STUDY.yaml')")
    path = manifest_path(folder)
    if not path.is_file():
        raise ConfigError(
            f"{folder}: not an ensemble folder: {MANIFEST_FILE} is missing (write one with 'hpo finalize')"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the ensemble manifest: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    try:
        return EnsembleManifest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
