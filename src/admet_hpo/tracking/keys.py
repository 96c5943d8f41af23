"""Names shared by the search and the tracking: Optuna trial attribute keys, and turning arbitrary
metric and parameter names into keys MLflow accepts."""

from __future__ import annotations

import re

#: Trial user attribute, ``True`` on the study's baseline trial: the base training config itself,
#: enqueued as the study's first trial (see :mod:`admet_hpo.search.baseline`).
BASELINE_ATTR = "baseline"
#: Trial user attribute of a completed trial: its final test metrics, ``{"test/<task>/<metric>": value,
#: "test/mean_<metric>": value}`` (as logged to MLflow; NaN stored as None).
TEST_METRICS_ATTR = "test_metrics"

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
