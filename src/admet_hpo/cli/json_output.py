"""What ``--json`` prints: one record type per command, and its JSON Schema.

Each command with ``--json`` prints exactly one JSON document (one line) on stdout: a record of the
command's model below, nothing else (messages and errors go to stderr); ``run`` and ``nightly`` print
one line per finished trial first. :data:`OUTPUT_MODELS` maps the
command to its model; ``hpo schema`` writes each model's JSON Schema as
``schemas/output/<command>.schema.json`` (documented in ``docs/reference/json-output.md``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from admet_hpo.config.schemas import JSON_SCHEMA_DIALECT
from admet_hpo.data.report import TableReport
from admet_hpo.orchestration.runner import RunSummary
from admet_hpo.search.validation import FileKind
from admet_hpo.tracking.keys import trial_parameters

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

TrialStateName = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


class TrialRecord(_Record):
    """One trial: parameters as applied (simplex shares) and as Optuna stores them (raw draws)."""

    trial: int = Field(description="Trial number in the study.")
    state: TrialStateName
    value: float | None = Field(description="Objective value (None unless COMPLETE).")
    params: dict[str, Any] = Field(description="Parameter -> value as applied (simplex shares).")
    raw_params: dict[str, Any] = Field(description="Optuna parameter name -> stored value (raw draws).")
    epochs_run: int | None = Field(description="Epochs trained (None for a trial that did not train).")
    mlflow_run_id: str | None
    error: str | None = Field(description="Why the trial failed, for FAIL trials.")

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord:
        """The record of a stored trial."""
        attrs = trial.user_attrs
        epochs = attrs.get("epochs_run", len(trial.intermediate_values) or None)
        return cls(
            trial=trial.number,
            state=trial.state.name,
            value=trial.value,
            params=trial_parameters(trial.params, attrs),
            raw_params=dict(trial.params),
            epochs_run=epochs,
            mlflow_run_id=attrs.get("mlflow_run_id"),
            error=attrs.get("error"),
        )


class StatusOutput(_Record):
    """``hpo status --json``: the study's counts and best trial, and every trial."""

    summary: RunSummary
    trials: list[TrialRecord]


class BaselineRecord(_Record):
    """The study's baseline trial (the base training config) in ``hpo best --json``."""

    trial: int
    state: TrialStateName
    value: float | None
    test_metrics: dict[str, float | None] | None


class BestOutput(_Record):
    """``hpo best --json``: the best completed trial, where its model is, and how to look at it."""

    study: str = Field(description="Optuna study name (the version).")
    trial: int
    value: float | None
    params: dict[str, Any] = Field(description="Parameter -> value as applied (simplex shares).")
    raw_params: dict[str, Any] = Field(description="Optuna parameter name -> stored value (raw draws).")
    mlflow_run_id: str | None
    model_path: str | None = Field(description="The trial's best.pt (None when no output folder is known).")
    model_artifact: str | None = Field(description="The same file as an MLflow artifact URI.")
    dashboard_command: str = Field(description="The hpo dashboard command that serves this study.")
    mlflow_url: str = Field(description="The trial's MLflow run page (or the UI's front page).")
    mlflow_ui_command: str | None = Field(description="The command that serves that UI (None for a server).")
    test_metrics: dict[str, float | None] | None = Field(
        description="The trial's test metrics: test/<task>/<metric> and test/mean_<metric>."
    )
    baseline: BaselineRecord | None = Field(description="The study's baseline trial (None without one).")


class ValidatedFile(_Record):
    """One file checked by ``hpo validate``: ``ok`` with a summary and warnings, or the error text."""

    path: str
    ok: bool
    kind: FileKind | None = Field(description="Detected or given file kind (None when it failed).")
    summary: str | None
    warnings: list[str]
    error: str | None = Field(description="Every problem found, as printed without --json.")


class ValidateOutput(_Record):
    """``hpo validate --json``: every file; ``ok`` when all are valid (exit status 2 otherwise)."""

    ok: bool
    files: list[ValidatedFile]


class DatasetRecord(_Record):
    """A known data set."""

    name: str
    summary: str
    target_cols: list[str]
    source_files: int = Field(description="Public source files (0: built offline).")
    license: str
    cached: bool
    cache_path: str = Field(description="Where the built table is (or will be) cached.")


class DataListOutput(_Record):
    """``hpo data list --json``: the known data sets."""

    datasets: list[DatasetRecord]


class DataCheckOutput(_Record):
    """``hpo data check --json``: the table's counts and every problem; ``ok`` when there is none
    (exit status 1 otherwise)."""

    ok: bool
    report: TableReport


class ExportOutput(_Record):
    """``hpo export --json``: which trial was written where."""

    study: str
    trial: int
    value: float | None
    output: str = Field(description="The training config written (absolute path).")
    output_dir: str = Field(description="The output_dir set in it.")


class ReplayOutput(_Record):
    """``hpo replay --json``: stored and replayed values; ``reproduced`` when the relative difference is
    finite and within ``tolerance`` (exit status 1 otherwise)."""

    study: str
    trial: int
    stored: float
    replayed: float | None = Field(description="The retrained trial's value; None when not finite.")
    difference: float | None = Field(description="|replayed - stored|; None when not finite.")
    relative: float | None = Field(description="difference / |stored|; None when not finite.")
    tolerance: float
    reproduced: bool


class RunOutput(RootModel[TrialRecord | RunSummary]):
    """``hpo run --json``: one line per trial that finishes during the run (a trial record), then one
    summary line (``study_name`` and the study's counts)."""


class NightRecord(_Record):
    """The night record of ``hpo nightly --json`` (its last line)."""

    night: str = Field(description="The night's date, YYYY-MM-DD.")
    study: str = Field(description="The Optuna study (version) the night ran in.")
    data_hash: str
    previous_version: str | None = Field(description="The version used before the data changed.")
    new_version: bool = Field(description="Whether this night created the version.")
    stale_trials_failed: dict[str, list[int]] = Field(description="Version -> trials failed as stale.")
    runs_closed: int = Field(description="MLflow runs of stale trials closed as FAILED.")
    enqueued: list[dict[str, Any]] = Field(description="Warm-start parameter sets enqueued.")
    finished_before: int
    finished: int
    complete: int
    pruned: int
    failed: int
    added: int = Field(description="Finished trials this call added to the night.")
    best_trial: int | None
    best_value: float | None


class NightlyOutput(RootModel[TrialRecord | NightRecord]):
    """``hpo nightly --json``: one line per trial that finishes (a trial record), then the night record."""


#: command (as typed after ``hpo``) -> the model of its ``--json`` output (each line of it)
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "run": RunOutput,
    "nightly": NightlyOutput,
    "status": StatusOutput,
    "best": BestOutput,
    "validate": ValidateOutput,
    "data list": DataListOutput,
    "data check": DataCheckOutput,
    "export": ExportOutput,
    "replay": ReplayOutput,
}


def schema_file_name(command: str) -> str:
    """``data check`` -> ``data-check.schema.json``."""
    return f"{command.replace(' ', '-')}.schema.json"


def output_schemas() -> dict[str, str]:
    """Schema file name -> JSON text of the JSON Schema of every command's ``--json`` record (stable)."""
    texts = {}
    for command, model in OUTPUT_MODELS.items():
        schema = {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema(mode="serialization")}
        texts[schema_file_name(command)] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return texts


def json_line(record: BaseModel) -> str:
    """``record`` as one line of JSON, spaced as ``json.dumps`` spaces it (``{"trial": 3, ...}``);
    values that are not finite become null."""
    return json.dumps(json.loads(record.model_dump_json()), ensure_ascii=False)


def emit(record: BaseModel) -> None:
    """Print ``record`` as one JSON line on stdout (no colour, no wrapping)."""
    from admet_hpo.cli.console import console

    console.file.write(json_line(record) + "\n")
    console.file.flush()
