"""Turning arbitrary metric and parameter names into keys MLflow accepts."""

from __future__ import annotations

import re

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
GIT_COMMIT_TAG = "mlflow.source.git.commit"

# --- the study's summary on its parent run, updated after every trial ------------------------------------

#: Trial user attribute marking the baseline trial (the base training config, untouched by the space).
BASELINE_ATTR = "baseline"
BEST_VALUE_METRIC = "best_value"
BEST_TRIAL_METRIC = "best_trial"
#: Metrics counting the study's trials by state (``trials_complete``, ``trials_pruned``, ``trials_failed``).
TRIAL_COUNT_METRICS = {"COMPLETE": "trials_complete", "PRUNED": "trials_pruned", "FAIL": "trials_failed"}
BASELINE_VALUE_METRIC = "baseline_value"
#: Best value minus the baseline trial's value (negative: the search beat the baseline when minimising).
BASELINE_DELTA_METRIC = "best_minus_baseline"
#: Prefix of the parent run's tags holding the best trial's parameters as applied (``best.max_lr``).
BEST_PARAM_TAG_PREFIX = "best."
