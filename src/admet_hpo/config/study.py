"""Study files: what to search, on which base training config, with which Optuna sampler and pruner.

A study YAML file (:class:`StudyConfig`) is loaded by :func:`load_study` into a resolved :class:`Study`:
search-space files loaded and combined, the base training config built, every path and URL absolute.

Paths in a study file (search spaces, ``training_config``, ``output_dir``, ``data.path``, relative
SQLite URLs) are relative to the study file's folder. Storage and tracking URLs may contain
``${VARIABLE}`` references, replaced from the environment when the study is loaded (for passwords kept
in an env file); nothing else is interpolated or evaluated.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from admet_hpo.config.base import StrictModel
from admet_hpo.config.legacy import upgrade_legacy_training_mapping
from admet_hpo.config.loading import (
    format_validation_error,
    read_yaml_mapping,
    validate_mapping,
)
from admet_hpo.config.locations import absolute_sqlite_url
from admet_hpo.config.search_space import SearchSpace, load_search_spaces
from admet_hpo.config.training import DataConfig, SplitConfig, TrainingConfig, load_training_config
from admet_hpo.errors import ConfigError

StudyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]


class SamplerConfig(StrictModel):
    """The Optuna sampler: ``tpe`` (TPESampler), ``random``, ``gp`` (GPSampler), ``cmaes`` (CmaEsSampler)."""

    type: Literal["tpe", "random", "gp", "cmaes"] = "tpe"
    seed: int | None = Field(
        default=None, description="Sampler seed; None = not reproducible. Workers add their index to it."
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments of the sampler class, e.g. n_startup_trials.",
    )


class PrunerConfig(StrictModel):
    """The Optuna pruner, which stops unpromising trials on their per-epoch metric.

    ``hyperband`` (HyperbandPruner, the default: multi-fidelity search, the pairing Optuna recommends
    with its TPE sampler), ``successive_halving`` (SuccessiveHalvingPruner), ``median`` (MedianPruner),
    ``patient`` (PatientPruner: ``patience`` epochs without improvement before the ``wrapped`` pruner,
    if any, may prune) or ``none`` (never prune). Hyperband and successive halving take their
    ``min_resource`` / ``max_resource`` / ``reduction_factor`` from the trials' epochs unless ``args``
    set them (see ``admet_hpo.search.algorithms.multi_fidelity_arguments``).
    """

    type: Literal["median", "hyperband", "successive_halving", "patient", "none"] = "hyperband"
    args: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the pruner class, e.g. n_warmup_steps."
    )
    patience: int | None = Field(default=None, ge=0, description="patient only: epochs without improvement.")
    wrapped: PrunerConfig | None = Field(default=None, description="patient only: the pruner it wraps.")

    @model_validator(mode="after")
    def _patient_fields(self) -> PrunerConfig:
        if self.type == "patient" and self.patience is None:
            raise ValueError("a patient pruner needs 'patience'")
        if self.type != "patient" and (self.patience is not None or self.wrapped is not None):
            raise ValueError(f"'patience' and 'wrapped' belong to type: patient, not {self.type}")
        if self.type == "none" and self.args:
            raise ValueError("type: none takes no args")
        return self


#: URI schemes MLflow can track to (a database scheme may name its driver: ``postgresql+psycopg``).
MLFLOW_SCHEMES = ("file", "http", "https", "databricks", "sqlite", "postgresql", "mysql", "mssql")


class MlflowConfig(StrictModel):
    """Where trial runs are tracked."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (" + ", ".join(MLFLOW_SCHEMES) + " or a folder); default: a "
        "SQLite store mlflow.db in output_dir.",
    )
    ui_url: str | None = Field(
        default=None,
        description=(
            "Where the MLflow UI of this store is opened (dashboard notes, 'hpo best' links); default: the "
            "tracking server itself, or http://127.0.0.1:5000 (what 'mlflow ui' serves) for a local store."
        ),
    )

    @field_validator("ui_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/?#]+", value):
            raise ValueError(
                f"expected an http:// or https:// address such as http://127.0.0.1:5000, got {value!r}"
            )
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        scheme = (value or "").partition("://")[0] if "://" in (value or "") else ""
        if scheme and scheme.split("+", 1)[0].lower() not in MLFLOW_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}; expected one of {', '.join(MLFLOW_SCHEMES)} "
                "(with a database driver such as postgresql+psycopg) or a folder path"
            )
        return value


class HeartbeatConfig(StrictModel):
    """Heartbeats of running trials (RDB storage only): a trial silent for ``grace_period`` is failed."""

    interval: int = Field(default=60, ge=1, description="Seconds between heartbeats of a running trial.")
    grace_period: int | None = Field(
        default=None, ge=1, description="Seconds of silence before a trial is stale; default 2 x interval."
    )
    max_retry: int | None = Field(
        default=3, ge=0, description="Times a stale trial is re-queued; None = without limit."
    )

    @model_validator(mode="after")
    def _grace_exceeds_interval(self) -> HeartbeatConfig:
        if self.grace_period is not None and self.grace_period <= self.interval:
            raise ValueError(f"grace_period ({self.grace_period}) must exceed interval ({self.interval})")
        return self


class NightlyConfig(StrictModel):
    """One night's budget for scheduled sweeps (``hpo nightly`` / ``hpo schedule``)."""

    n_trials: int | None = Field(default=20, ge=1, description="Trials added per night.")
    minutes: float | None = Field(default=None, gt=0, description="Wall-time budget per night.")
    cron: str = Field(
        default="0 2 * * *", description="Five-field cron expression (minute hour day month weekday)."
    )
    timezone: str = Field(
        default="UTC", description="Time zone of the cron expression and of the night's date."
    )
    warm_start_top_k: int = Field(
        default=5, ge=0, description="Best earlier parameter sets re-enqueued each night."
    )

    @model_validator(mode="after")
    def _has_budget(self) -> NightlyConfig:
        if self.n_trials is None and self.minutes is None:
            raise ValueError("give n_trials, minutes or both")
        return self

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        """Five fields, read by the same parser as ``hpo schedule --cron`` (crontab's weekday numbers)."""
        from admet_hpo.config.cron import cron_trigger

        if len(value.split()) != 5:
            raise ValueError("expected five fields: minute hour day month weekday")
        try:
            cron_trigger(value, "UTC")
        except ConfigError as exc:
            raise ValueError(f"invalid cron expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as 'Europe/Berlin')"
            ) from None
        return value


class WarmStartConfig(StrictModel):
    """Warm start of a new study version (a changed search space) from the previous version's best
    completed trials whose parameters fit the new space (see ``admet_hpo.search.warm_start``)."""

    enabled: bool = Field(default=True, description="Warm-start a new version of the study.")
    top_k: int = Field(
        default=5, ge=1, description="Best fitting parameter sets of the previous version enqueued."
    )


class StudyConfig(StrictModel):
    """A study YAML file."""

    model_config = ConfigDict(title="admet-hpo study")

    name: StudyName = Field(description="Study name; the Optuna study is '<name>-<space hash>'.")
    description: str | None = None
    search_spaces: list[Path] = Field(min_length=1, description="Search-space files, combined.")
    training: TrainingConfig | None = Field(
        default=None, description="Base training config inline (as in a file for `hpo train`)."
    )
    training_config: Path | None = Field(default=None, description="Base training config file.")
    data: DataConfig | None = Field(default=None, description="Replaces the base config's data section.")
    split: SplitConfig | None = Field(default=None, description="Replaces the base config's split section.")
    max_epochs: int | None = Field(default=None, ge=1, description="Replaces trainer.max_epochs.")
    metric: str = Field(
        default="val_loss",
        min_length=1,
        description="Per-epoch validation metric reported, pruned on and optimised: val_loss, "
        "val/mean_<metric> or val/<task>/<metric> (<metric>: rmse, mae, r2, pearson_r, spearman_rho).",
    )
    direction: Literal["minimize", "maximize"] = "minimize"
    baseline: bool = Field(
        default=True,
        description="Enqueue the base training config as the study's first trial (the baseline the "
        "tuned trials are compared with).",
    )
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    n_trials: int | None = Field(
        default=None, ge=1, description="Trials per `hpo run` (all workers together)."
    )
    timeout: float | None = Field(default=None, gt=0, description="Seconds per `hpo run`.")
    output_dir: Path | None = Field(default=None, description="Study outputs; default runs/<name>.")
    storage: str | None = Field(
        default=None, description="Optuna storage URL; default: SQLite optuna.db in output_dir."
    )
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)
    warm_start: WarmStartConfig = Field(default_factory=WarmStartConfig)

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        if self.training is not None and self.training_config is not None:
            raise ValueError("give either 'training' (inline) or 'training_config' (a file), not both")
        if self.training is None and self.training_config is None and self.data is None:
            raise ValueError("give 'training', 'training_config' or at least 'data'")
        if self.n_trials is None and self.timeout is None:
            raise ValueError("give n_trials, timeout or both")
        return self


@dataclass(frozen=True)
class Study:
    """A loaded study: everything resolved, ready for the runner.

    ``base_training`` is the training config every trial starts from (overrides applied);
    ``storage`` and ``mlflow_tracking_uri`` are absolute URLs (credentials included: print them only through
    ``admet_hpo.masking.mask_url``). ``file_storage`` is the study file's own ``storage`` (None when it
    names none), whatever was given from outside: behind ``--storage grpc://...`` it is the database the
    proxy serves, where the workers take the budget lock (:func:`~admet_hpo.storage.rdb.study_lock`).
    """

    source: Path
    config: StudyConfig
    name: str
    space: SearchSpace
    base_training: TrainingConfig
    metric: str
    direction: Literal["minimize", "maximize"]
    sampler: SamplerConfig
    pruner: PrunerConfig
    n_trials: int | None
    timeout: float | None
    output_dir: Path
    storage: str
    mlflow_tracking_uri: str
    heartbeat: HeartbeatConfig
    nightly: NightlyConfig
    warm_start: WarmStartConfig
    file_storage: str | None = None


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_environment(value: str, source: Path, key: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            raise ConfigError(f"{source}: {key}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REFERENCE.sub(replace, value)


def _resolved(base_dir: Path, value: Path) -> Path:
    """A path from the study file: relative to its folder, made absolute and normalised (no ``..``)."""
    return (base_dir / value.expanduser()).resolve()


def _base_training(config: StudyConfig, source: Path, base_dir: Path) -> TrainingConfig:
    """The training config every trial starts from: inline, from a file, or defaults; then overrides."""
    if config.training is not None:
        base = config.training
        updates: dict[str, Any] = {"output_dir": _resolved(base_dir, base.output_dir)}
        if base.data.path is not None:
            updates["data"] = base.data.model_copy(update={"path": _resolved(base_dir, base.data.path)})
        base = base.model_copy(update=updates)
    elif config.training_config is not None:
        base = load_training_config(_resolved(base_dir, config.training_config))
    else:
        base = None
    data = base.model_dump() if base is not None else {}
    if config.data is not None:
        data["data"] = config.data.model_dump()
        if config.data.path is not None:
            data["data"]["path"] = _resolved(base_dir, config.data.path)
    if config.split is not None:
        data["split"] = config.split.model_dump()
    if config.max_epochs is not None:
        data.setdefault("trainer", {})["max_epochs"] = config.max_epochs
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{source}: the base training config with the study's overrides is invalid:\n"
            + format_validation_error(str(source), exc)
        ) from None


@dataclass(frozen=True)
class Locations:
    """Where a study's outputs, Optuna storage and MLflow tracking store go when given from outside the
    study file (a command-line flag or the environment), each None when not given. Relative paths and
    relative SQLite files are relative to the working directory, as for any command-line path; they win
    over the study file's ``output_dir``, ``storage`` and ``mlflow.tracking_uri``. A given ``output_dir``
    also moves the default storage and tracking store (``optuna.db`` and ``mlflow.db`` in it)."""

    output_dir: Path | None = None
    storage: str | None = None
    tracking_uri: str | None = None


def load_study(path: Path, locations: Locations | None = None) -> Study:
    """Load a study file, its search spaces and its base training config; resolve paths and URLs.

    ``locations`` replace the study file's output folder, storage and tracking store (see
    :class:`Locations`). Raises :class:`ConfigError` naming the file and key for any problem in the
    study file, a search space or the training config. Nothing is created on disk.
    """
    given = locations or Locations()
    source = Path(path)
    raw = read_yaml_mapping(source)
    if isinstance(raw.get("training"), dict):
        training = upgrade_legacy_training_mapping(raw["training"], source=f"{source}: training")
        if "data" not in training and isinstance(raw.get("data"), dict):
            training = {**training, "data": raw["data"]}  # the study-level data completes inline training
        raw = {**raw, "training": training}
    config = validate_mapping(StudyConfig, raw, source=str(source))
    base_dir = source.resolve().parent
    space = load_search_spaces([_resolved(base_dir, file) for file in config.search_spaces])
    base_training = _base_training(config, source, base_dir)
    working_dir = Path.cwd()
    if given.output_dir is not None:
        output_dir = _resolved(working_dir, given.output_dir)
    else:
        output_dir = _resolved(base_dir, config.output_dir or Path("runs") / config.name)

    def from_file(in_file: str | None, key: str) -> str | None:
        return (
            None
            if in_file is None
            else absolute_sqlite_url(_expand_environment(in_file, source, key), base_dir)
        )

    def url(given_url: str | None, in_file: str | None, key: str, default_file: str) -> str:
        if given_url is not None:
            return absolute_sqlite_url(given_url, working_dir)
        return from_file(in_file, key) or f"sqlite:///{output_dir / default_file}"

    return Study(
        source=source,
        config=config,
        name=config.name,
        space=space,
        base_training=base_training,
        metric=config.metric,
        direction=config.direction,
        sampler=config.sampler,
        pruner=config.pruner,
        n_trials=config.n_trials,
        timeout=config.timeout,
        output_dir=output_dir,
        storage=url(given.storage, config.storage, "storage", "optuna.db"),
        mlflow_tracking_uri=url(
            given.tracking_uri, config.mlflow.tracking_uri, "mlflow.tracking_uri", "mlflow.db"
        ),
        heartbeat=config.heartbeat,
        nightly=config.nightly,
        warm_start=config.warm_start,
        file_storage=from_file(config.storage, "storage"),
    )
