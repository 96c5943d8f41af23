"""``hpo finalize``: retrain a study's best trials with several seeds and write the ensemble folder.

Protocol (:data:`admet_hpo.finalize.manifest.PROTOCOL`): each member retrains its trial's resolved
config with another seed, exactly as the study trained its trials: on the study's train split, the best
epoch chosen on validation loss (early stopping as configured), the test split never seen. Why this one
and not "train + validation for the best trial's epoch count": the members are then the very models
the search selected (a trial's first member reproduces the trial), their epoch choice adapts to each
seed instead of reusing one noisy count found on a smaller training set, and the test split stays an
honest estimate of the ensemble's quality (``test/...`` metrics in the manifest). The cost is the
validation records, which the members do not train on.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from admet_hpo.errors import ConfigError
from admet_hpo.finalize.ensemble import Ensemble, load_ensemble
from admet_hpo.finalize.manifest import (
    DEFAULT_FOLDER_NAME,
    MANIFEST_FILE,
    MEMBERS_DIR,
    EnsembleManifest,
    MemberRecord,
    write_manifest,
)
from admet_hpo.finalize.members import MemberSpec, member_specs, top_trials

if TYPE_CHECKING:
    import optuna

    from admet_hpo.config.study import Study
    from admet_hpo.data.table import MoleculeTable, SplitIndices

MemberObserver = Callable[[int, int, MemberSpec], None]
"""Called with ``(index, count, member)`` before each member trains (e.g. a progress line)."""


@dataclass(frozen=True)
class FinalizedEnsemble:
    """What ``hpo finalize`` wrote: the folder and its manifest."""

    folder: Path
    manifest: EnsembleManifest


def default_ensemble_dir(study: Study) -> Path:
    """``<study output folder>/ensemble``: where ``hpo finalize`` writes and ``hpo predict STUDY`` reads."""
    return Path(study.output_dir) / DEFAULT_FOLDER_NAME


def prepare_folder(folder: Path, overwrite: bool) -> None:
    """Make ``folder`` an empty directory; a non-empty one is an error unless ``overwrite``, which removes
    what ``hpo finalize`` writes (a folder holding only ``ensemble.json`` and ``members/``: an earlier
    ensemble, or one interrupted before its manifest) but never any other folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: exists and is not a folder; choose another with -o")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise ConfigError(f"{folder}: not empty; pass --overwrite to replace it, or -o another folder")
        if not {entry.name for entry in folder.iterdir()} <= {MANIFEST_FILE, MEMBERS_DIR}:
            raise ConfigError(
                f"{folder}: holds files besides {MANIFEST_FILE} and {MEMBERS_DIR}/, so it is not an "
                "ensemble folder; refusing to overwrite it"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def _train_member(spec: MemberSpec, data: tuple[MoleculeTable, SplitIndices], folder: Path) -> MemberRecord:
    """Train one member into its folder: config.yaml, best.pt, metrics.json (Lightning checkpoints are
    removed: best.pt holds the chosen epoch's weights)."""
    from admet_hpo.training.run import train

    out = Path(spec.config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "config.yaml"
    header = f"# ensemble member {spec.name}: trial {spec.trial.number}, trainer.seed {spec.seed}\n"
    dumped = yaml.safe_dump(spec.config.model_dump(mode="json"), sort_keys=False)
    config_file.write_text(header + dumped, encoding="utf-8")
    result = train(spec.config, progress_bar=False, data=data)
    shutil.rmtree(result.checkpoint_path.parent, ignore_errors=True)
    return MemberRecord(
        name=spec.name,
        trial=spec.trial.number,
        seed=spec.seed,
        trial_value=spec.trial.value,
        best_val_loss=result.best_val_loss,
        epochs_run=result.epochs_run,
        config=config_file.relative_to(folder).as_posix(),
        model=result.model_path.relative_to(folder).as_posix(),
    )


def ensemble_metrics(ensemble: Ensemble, table: MoleculeTable, split: SplitIndices) -> dict[str, float]:
    """The ensemble's per-task metrics (and task means) on the labelled validation and test rows, on the
    modelled scale like the trials' (``val/<task>/rmse``, ``test/mean_pearson_r``, ...)."""
    from admet_hpo.training.metrics import flatten_task_metrics, per_task_metrics
    from admet_hpo.training.run import labelled_rows

    flat: dict[str, float] = {}
    for part, rows in (("val", split.val), ("test", split.test)):
        rows = labelled_rows(table, rows)
        if len(rows) == 0:
            continue
        subset = table.subset(rows)
        mean = ensemble.member_predictions(subset).mean(axis=0)
        censoring = subset.censoring
        metrics = per_task_metrics(subset.targets, mean, table.target_names, censoring)
        flat |= flatten_task_metrics(metrics, part)
    return {key: float(value) for key, value in flat.items() if np.isfinite(value)}


def finalize_study(
    study: Study,
    optuna_study: optuna.Study,
    *,
    top_k: int = 1,
    seeds: int = 3,
    folder: Path | None = None,
    overwrite: bool = False,
    observer: MemberObserver | None = None,
) -> FinalizedEnsemble:
    """Retrain the ``top_k`` best completed trials with ``seeds`` seeds each (see the module docstring)
    and write the ensemble folder (default :func:`default_ensemble_dir`) with its manifest, which holds
    the ensemble's validation and test metrics."""
    from admet_hpo.data.training_data import load_training_data

    if top_k < 1 or seeds < 1:
        raise ConfigError(f"--top-k and --seeds must be at least 1 (got {top_k} and {seeds})")
    trials = top_trials(optuna_study, top_k)
    folder = (Path(folder) if folder is not None else default_ensemble_dir(study)).resolve()
    specs = member_specs(study, trials, seeds, folder / MEMBERS_DIR)
    prepare_folder(folder, overwrite)
    data = load_training_data(specs[0].config)
    table, split = data
    records = []
    for index, spec in enumerate(specs):
        if observer is not None:
            observer(index, len(specs), spec)
        records.append(_train_member(spec, data, folder))
    data_config = specs[0].config.data
    manifest = EnsembleManifest(
        study=study.name,
        optuna_study=optuna_study.study_name,
        metric=study.metric,
        direction=study.direction,
        smiles_col=data_config.smiles_col,
        task_names=list(table.target_names),
        transforms=dict(data_config.transforms),
        data_hash=table.content_hash,
        split_hash=split.split_hash,
        members=records,
    )
    write_manifest(folder, manifest)
    manifest = manifest.model_copy(update={"metrics": ensemble_metrics(load_ensemble(folder), table, split)})
    write_manifest(folder, manifest)
    return FinalizedEnsemble(folder, manifest)
