"""Every key admet-hpo writes into Optuna and MLflow, in one place: study and trial user attributes,
MLflow tags and metric names; and :func:`mlflow_key`, which turns arbitrary metric and parameter names
into keys MLflow accepts.

Readers (the live display, ``hpo status``/``best``, the dashboard note, nightly sweeps) use the same
constants as the writers, so a key is never spelled twice."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# ------------------------------------------------------------------------ Optuna study user attributes

#: The study file a study was created from, its name in the file and its search-space hash.
STUDY_FILE_ATTR = "study_file"
BASE_NAME_ATTR = "base_name"
SPACE_HASH_ATTR = "space_hash"
#: The MLflow parent run of the study; its MLflow experiment (run page links need it without MLflow).
PARENT_RUN_ATTR = "mlflow_parent_run_id"
EXPERIMENT_ATTR = "mlflow_experiment_id"
#: Content hash of the data a version was run on; the version it replaced; on the base version, the
#: version nightly sweeps currently use.
DATA_HASH_ATTR = "data_hash"
PREVIOUS_VERSION_ATTR = "previous_version"
NIGHTLY_VERSION_ATTR = "nightly_version"

# ------------------------------------------------------------------------ Optuna trial user attributes

#: The trial's MLflow run.
RUN_ID_ATTR = "mlflow_run_id"
#: Why the trial failed (masked, truncated).
ERROR_ATTR = "error"
#: Epochs the trial trained; its output folder; the worker (``host:pid``) that ran it.
EPOCHS_ATTR = "epochs_run"
OUTPUT_ATTR = "output_dir"
WORKER_ATTR = "worker"
#: ``True`` on the study's baseline trial: the base training config itself, enqueued as the study's
#: first trial (see :mod:`admet_hpo.search.baseline`).
BASELINE_ATTR = "baseline"
#: A completed trial's final test metrics, ``{"test/<task>/<metric>": value, "test/mean_<metric>":
#: value}`` (as logged to MLflow; NaN stored as None).
TEST_METRICS_ATTR = "test_metrics"
#: ``True`` on a trial failed before training because the budget was full when it started: it was
#: admitted while the study lock was lost (see :mod:`admet_hpo.storage.budget`).
SURPLUS_ATTR = "budget_surplus"
#: The device Lightning trained the trial on (``cpu``, ``cuda:0``: a worker's first visible GPU).
DEVICE_ATTR = "device"
#: The night (ISO date) a trial of a nightly sweep ran in.
NIGHT_ATTR = "night"
#: ``CUDA_VISIBLE_DEVICES`` of the worker, and its SLURM array job and task, when set.
VISIBLE_DEVICES_ATTR = "cuda_visible_devices"
SLURM_JOB_ATTR = "slurm_array_job_id"
SLURM_TASK_ATTR = "slurm_array_task_id"
#: Optuna's own system attribute holding the parameters of an enqueued trial.
FIXED_PARAMS_SYSTEM_ATTR = "fixed_params"

# ----------------------------------------------------------------------------------------- MLflow tags

STUDY_NAME_TAG = "optuna.study_name"
TRIAL_NUMBER_TAG = "optuna.trial_number"
STATE_TAG = "optuna.state"
ERROR_TAG = "optuna.error"
STORAGE_TAG = "optuna.storage"
DIRECTIONS_TAG = "optuna.directions"
SAMPLER_TAG = "optuna.sampler"
PRUNER_TAG = "optuna.pruner"
ROLE_TAG = "admet_hpo.role"
PARENT_RUN_TAG = "mlflow.parentRunId"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
#: Prefix of the lineage tags (data and split hashes, git commit, Python, platform, package versions).
LINEAGE_TAG_PREFIX = "lineage."
#: Metric holding the trial's objective value.
VALUE_METRIC = "trial_value"

# -------------------------------------------------------------------------------------- valid MLflow keys

_MAX_KEY_LENGTH = 250  # MLflow's limit for metric, param and tag keys
_DISALLOWED = re.compile(r"[^\w.\- /]")


def mlflow_key(name: str) -> str:
    """A valid MLflow key for ``name``: characters other than letters, digits, ``_ . - /`` and space become
    ``_``; empty, ``.`` and ``..`` path segments are dropped (MLflow rejects keys that are not normalised
    relative paths); the result is cut to 250 characters. Valid keys come back unchanged.

    ``"val/rmse/Caco-2 (Papp)"`` -> ``"val/rmse/Caco-2 _Papp_"``.
    """
    segments = [
        segment for segment in _DISALLOWED.sub("_", name).split("/") if segment not in {"", ".", ".."}
    ]
    return "/".join(segments)[:_MAX_KEY_LENGTH].rstrip("/") or "_"


# --- MLflow's standard system tags (https://mlflow.org/docs/latest/tracking/tracking-api#system-tags) ----

USER_TAG = "mlflow.user"
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"

# --- the study's summary on its parent run, updated after every trial ------------------------------------

BEST_VALUE_METRIC = "best_value"
BEST_TRIAL_METRIC = "best_trial"
#: Metrics counting the study's trials by state (``trials_complete``, ``trials_pruned``, ``trials_failed``).
TRIAL_COUNT_METRICS = {"COMPLETE": "trials_complete", "PRUNED": "trials_pruned", "FAIL": "trials_failed"}
BASELINE_VALUE_METRIC = "baseline_value"
#: Best value minus the baseline trial's value (negative: the search beat the baseline when minimising).
BASELINE_DELTA_METRIC = "best_minus_baseline"
#: Prefix of the parent run's tags holding the best trial's parameters as applied (``best.max_lr``).
BEST_PARAM_TAG_PREFIX = "best."


# ------------------------------------------------------------------------ simplex parameters as stored

#: Ends the Optuna name of a simplex parameter's raw draw (``condition_ratio.human.raw``); the applied
#: share is the trial user attribute (and MLflow param) of the name without it.
SIMPLEX_RAW_SUFFIX = ".raw"


def simplex_share_name(parameter: str, key: str) -> str:
    """The name of one key's applied share of a simplex parameter (trial user attribute, MLflow param)."""
    return f"{parameter}.{key}"


def simplex_raw_name(parameter: str, key: str) -> str:
    """The Optuna parameter name of one key's raw float of a simplex parameter."""
    return simplex_share_name(parameter, key) + SIMPLEX_RAW_SUFFIX


def trial_parameters(params: Mapping[str, Any], user_attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters as applied, from its Optuna ``params`` and ``user_attrs``: every simplex raw
    draw (``<parameter>.<key>.raw``) is replaced, in place, by its applied share (the user attribute
    ``<parameter>.<key>``); other parameters, and raw draws without a recorded share, are kept as they
    are."""
    shown: dict[str, Any] = {}
    for name, value in params.items():
        share_name = name.removesuffix(SIMPLEX_RAW_SUFFIX)
        if name.endswith(SIMPLEX_RAW_SUFFIX) and share_name in user_attrs:
            shown[share_name] = user_attrs[share_name]
        else:
            shown[name] = value
    return shown
