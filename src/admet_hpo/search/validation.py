"""Checking study, search-space and training-config files without running anything (``hpo validate``).

The files are loaded as every command loads them (:mod:`admet_hpo.config`), then checked against the
search itself: a study's sampler and pruner are built, its Optuna study name and ineffective parameters
reported. It lives in ``search`` because it needs both (``config`` depends on nothing above it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from admet_hpo.config.legacy import rewrite_legacy_keys
from admet_hpo.config.loading import read_yaml_mapping
from admet_hpo.config.search_space import load_search_space
from admet_hpo.config.study import StudyConfig, load_study
from admet_hpo.config.training import TrainerConfig, TrainingConfig, load_training_config
from admet_hpo.errors import ConfigError
from admet_hpo.masking import mask_url
from admet_hpo.search.algorithms import build_pruner, build_sampler
from admet_hpo.search.baseline import baseline_warnings
from admet_hpo.search.metric import check_study_metric
from admet_hpo.search.space import ineffective_parameters, space_hash
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.training.devices import plan_devices, visible_gpus

FileKind = Literal["study", "space", "training"]


@dataclass(frozen=True)
class FileReport:
    """A file that passed: what it is, a one-line summary, and warnings that do not make it invalid."""

    path: Path
    kind: FileKind
    summary: str
    warnings: list[str] = field(default_factory=list)


def detect_kind(path: Path) -> FileKind:
    """Tell a file's kind from its top-level keys: ``parameters`` (search space), ``search_spaces`` or
    other study-only keys (study), or training-config sections, legacy ones included (training config)."""
    raw = read_yaml_mapping(path)
    keys = set(raw)
    if "parameters" in keys:
        return "space"
    if keys & (set(StudyConfig.model_fields) - set(TrainingConfig.model_fields)):
        return "study"
    current, _ = rewrite_legacy_keys(raw, str(path))
    if current and set(current) <= set(TrainingConfig.model_fields):
        return "training"
    raise ConfigError(
        f"{path}: cannot tell whether this is a study, a search space or a training config from its "
        f"top-level keys ({', '.join(sorted(keys)) or 'none'}); pass --kind"
    )


#: Machine counts so large that only the form of ``trainer.accelerator`` / ``trainer.devices`` is checked.
_ANY_MACHINE = 1_000_000


def _device_warnings(source: Path, trainer: TrainerConfig) -> list[str]:
    """Check ``trainer.accelerator`` / ``trainer.devices``: a value no machine can satisfy (``devices:
    banana``, GPU indices that are not a list) is a :class:`ConfigError`; one beyond *this* machine is a
    warning, since the file may be checked on a login node and run on a GPU node (training refuses it
    where it runs)."""
    gpus = visible_gpus()
    wants_gpu = trainer.accelerator in ("gpu", "cuda")
    try:
        plan_devices(trainer, cpus=_ANY_MACHINE, gpus=gpus or (_ANY_MACHINE if wants_gpu else 0))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        plan_devices(trainer, gpus=gpus)
    except ConfigError as exc:
        return [f"on this machine: {exc}"]
    return []


def _check_study(path: Path) -> FileReport:
    study = check_study_metric(load_study(path))
    devices = _device_warnings(path, study.base_training.trainer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature notices are not problems of the file
        build_sampler(study)
        build_pruner(study)
    parameters, files = len(study.space.parameters), len(study.space.files)
    summary = (
        f"study {study.name!r} -> Optuna study {versioned_study_name(study)!r}: {parameters} parameter(s) "
        f"from {files} search space file(s), storage {mask_url(study.storage)}"
    )
    notes = devices + ineffective_parameters(study.base_training, study.space) + baseline_warnings(study)
    return FileReport(path, "study", summary, notes)


def _check_space(path: Path) -> FileReport:
    space = load_search_space(path)
    return FileReport(
        path, "space", f"search space: {len(space.parameters)} parameter(s), hash {space_hash(space)}"
    )


def _check_training(path: Path) -> FileReport:
    config = load_training_config(path)
    devices = _device_warnings(path, config.trainer)
    data = config.data.dataset or config.data.path
    summary = f"training config: data {data}, {config.trainer.max_epochs} epochs"
    return FileReport(path, "training", summary, devices)


_CHECKS = {"study": _check_study, "space": _check_space, "training": _check_training}


def validate_file(path: Path, kind: FileKind | None = None) -> FileReport:
    """Load and check ``path`` as ``kind`` (detected when None); raises :class:`ConfigError` on problems.

    Deprecation warnings raised while loading (legacy training-config keys) become report warnings.
    """
    package_dir = Path(__file__).resolve().parents[1]  # admet_hpo/
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        report = _CHECKS[kind or detect_kind(path)](path)
    deprecations = [
        str(warning.message)
        for warning in caught
        if issubclass(warning.category, DeprecationWarning) and package_dir in Path(warning.filename).parents
    ]
    return replace(report, warnings=deprecations + report.warnings)
