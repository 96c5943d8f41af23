"""Loading an ensemble folder and predicting SMILES with it (``hpo predict`` and the MLflow model).

The ensemble's prediction for a task is the mean of its members' predictions on the modelled scale (the
scale the members were trained and selected on: after ``data.transforms``, in the units the members'
chemprop model files predict), mapped back to the raw units of the training table by inverting the
task's transform; ``<task>_sd`` is the members' standard deviation (population, 0 for one member) on
the modelled scale, e.g. in log10 units for a log10 target (a spread does not map through a non-linear
transform). Without a transform both are in the table's units, and the prediction is exactly the mean
of the members' ``chemprop predict`` outputs.

Molecules are featurised by :func:`member_dataset`, the training path
(:func:`admet_hpo.data.datasets.build_molecule_dataset` over :class:`admet_hpo.data.featurize.FeatureCache`,
with :func:`admet_hpo.data.descriptors.molecule_descriptors` for members trained with descriptors).
A SMILES that RDKit cannot parse is not predicted: its row gets NaN and its reason in
:attr:`EnsemblePrediction.errors`.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from chemprop.data import MoleculeDataset
from chemprop.models import MPNN

from admet_hpo.config.loading import read_yaml_mapping, validate_mapping
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.descriptors import molecule_descriptors
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.molecules import smiles_error
from admet_hpo.data.table import MoleculeTable
from admet_hpo.data.transforms import invert_transform
from admet_hpo.errors import ConfigError
from admet_hpo.finalize.manifest import EnsembleManifest, MemberRecord, read_manifest
from admet_hpo.training.prediction import evaluation_loader, predict

SD_SUFFIX = "_sd"
_BATCH_SIZE = 256
#: Molecules featurised and predicted at a time, so that a large input's graphs never all sit in memory.
CHUNK_ROWS = 20_000


def prediction_columns(task_names: Sequence[str]) -> list[str]:
    """The output columns of an ensemble, in order: ``<task>``, ``<task>_sd`` for every task."""
    return [column for task in task_names for column in (task, f"{task}{SD_SUFFIX}")]


def member_dataset(
    config: TrainingConfig,
    table: MoleculeTable,
    cache: FeatureCache,
    descriptor_sets: dict[str, np.ndarray | None] | None = None,
) -> MoleculeDataset:
    """The chemprop dataset a member trained with ``config`` predicts ``table``'s rows from: the same
    featurisation as its training (the one place prediction turns molecules into model inputs): the
    graphs from ``cache`` and, for a member with ``model.descriptors``, the raw descriptors of that set
    (the member's model scales them itself). ``descriptor_sets`` keeps the descriptors of ``table`` by set
    name, so that members sharing a set compute it once."""
    known = {} if descriptor_sets is None else descriptor_sets
    name = config.model.descriptors
    if name not in known:
        known[name] = molecule_descriptors(table.smiles, name, persist=False)
    return build_molecule_dataset(table, np.arange(len(table)), cache, known[name])


def molecule_table(smiles: Sequence[str], task_names: Sequence[str], source: str) -> MoleculeTable:
    """A table of parsable ``smiles`` to predict (targets unknown: NaN), rows numbered from 1."""
    count = len(smiles)
    return MoleculeTable(
        source=source,
        smiles=np.array(list(smiles), dtype=object),
        targets=np.full((count, len(task_names)), np.nan),
        target_names=tuple(task_names),
        lines=np.arange(1, count + 1, dtype=np.int64),
    )


@dataclass(frozen=True)
class Member:
    """A loaded member: its manifest record, its training config and its chemprop model (on the CPU)."""

    record: MemberRecord
    config: TrainingConfig
    model: MPNN


@dataclass(frozen=True)
class EnsemblePrediction:
    """Predictions for a sequence of SMILES, one row each, in input order.

    ``values``: the ensemble's predictions in raw units; ``sd``: the members' spread on the modelled
    scale (see the module docstring); both ``(rows, tasks)``, NaN in rows whose SMILES was not
    predicted. ``errors`` maps those rows' positions to why."""

    task_names: tuple[str, ...]
    values: np.ndarray
    sd: np.ndarray
    errors: dict[int, str]

    def frame(self) -> pd.DataFrame:
        """The predictions as columns :func:`prediction_columns` (``<task>``, ``<task>_sd``, ...)."""
        data = {}
        for t, task in enumerate(self.task_names):
            data[task] = self.values[:, t]
            data[f"{task}{SD_SUFFIX}"] = self.sd[:, t]
        return pd.DataFrame(data, columns=prediction_columns(self.task_names))


class Ensemble:
    """An ensemble folder loaded for prediction (see :func:`load_ensemble`)."""

    def __init__(self, folder: Path, manifest: EnsembleManifest, members: list[Member]) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.members = members
        self.task_names = tuple(manifest.task_names)
        self._features = FeatureCache(persist=False)

    def member_predictions(self, table: MoleculeTable) -> np.ndarray:
        """Every member's predictions of ``table``'s rows, modelled scale: ``(members, rows, tasks)``."""
        descriptor_sets: dict[str, np.ndarray | None] = {}
        outputs = [
            predict(
                member.model,
                evaluation_loader(
                    member_dataset(member.config, table, self._features, descriptor_sets), _BATCH_SIZE
                ),
            )
            for member in self.members
        ]
        return np.stack(outputs)

    def to_raw_units(self, modelled: np.ndarray) -> np.ndarray:
        """``(rows, tasks)`` values on the modelled scale in the training table's raw units."""
        raw = np.array(modelled, dtype=float, copy=True)
        for t, task in enumerate(self.task_names):
            transform = self.manifest.transforms.get(task)
            if transform is not None:
                raw[:, t] = invert_transform(transform, raw[:, t])
        return raw

    def predict(self, smiles: Sequence[str | None]) -> EnsemblePrediction:
        """Predict every SMILES (see :class:`EnsemblePrediction`); missing and unparsable ones get NaN
        and their reason instead of a prediction. Molecules go through in chunks of :data:`CHUNK_ROWS`."""
        errors: dict[int, str] = {}
        for position, text in enumerate(smiles):
            reason = "empty SMILES" if text is None else smiles_error(str(text))
            if reason is not None:
                errors[position] = reason
        valid = [i for i in range(len(smiles)) if i not in errors]
        shape = (len(smiles), len(self.task_names))
        values, sd = np.full(shape, np.nan), np.full(shape, np.nan)
        for start in range(0, len(valid), CHUNK_ROWS):
            rows = valid[start : start + CHUNK_ROWS]
            table = molecule_table([str(smiles[i]) for i in rows], self.task_names, str(self.folder))
            members = self.member_predictions(table)
            values[rows] = self.to_raw_units(members.mean(axis=0))
            sd[rows] = members.std(axis=0)
        return EnsemblePrediction(self.task_names, values, sd, errors)


def _load_member(folder: Path, record: MemberRecord, n_tasks: int) -> Member:
    config_path, model_path = folder / record.config, folder / record.model
    config = validate_mapping(TrainingConfig, read_yaml_mapping(config_path), source=str(config_path))
    if not model_path.is_file():
        raise ConfigError(f"{folder}: member {record.name}: model file {model_path} is missing")
    try:
        model = MPNN.load_from_file(model_path, map_location="cpu")
    except (OSError, RuntimeError, KeyError, EOFError, pickle.UnpicklingError) as exc:
        raise ConfigError(f"{model_path}: cannot load the chemprop model: {exc}") from None
    if model.n_tasks != n_tasks:
        raise ConfigError(
            f"{model_path}: the model predicts {model.n_tasks} tasks, the manifest lists {n_tasks}"
        )
    model.eval()
    return Member(record, config, model)


def load_ensemble(folder: Path) -> Ensemble:
    """Load the ensemble folder written by ``hpo finalize`` (its manifest, member configs and models);
    :class:`ConfigError` naming the folder or file when any part is missing or unreadable."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    members = [_load_member(folder, record, len(manifest.task_names)) for record in manifest.members]
    return Ensemble(folder, manifest, members)
