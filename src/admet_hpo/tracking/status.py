"""How an Optuna trial state maps onto an MLflow run status (no MLflow or Optuna import needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import TrialState

_RUN_STATUS_BY_TRIAL_STATE = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def run_status(state: TrialState) -> str:
    """MLflow run status for a finished trial: COMPLETE -> FINISHED, PRUNED -> KILLED, FAIL -> FAILED.

    Raises ValueError for a trial that has not finished (RUNNING, WAITING): its run must stay RUNNING.
    """
    try:
        return _RUN_STATUS_BY_TRIAL_STATE[state.name]
    except KeyError:
        raise ValueError(
            f"trial state {state.name} is not a finished state; expected one of "
            f"{', '.join(_RUN_STATUS_BY_TRIAL_STATE)}"
        ) from None
