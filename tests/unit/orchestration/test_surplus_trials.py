"""A trial admitted while the study lock was lost and found beyond the budget is failed before it trains,
marked as surplus, and its queued parameters go back to the queue."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from admet_hpo.orchestration.runner import SURPLUS_ERROR, _WorkerObjective
from admet_hpo.tracking.keys import BASELINE_ATTR, ERROR_ATTR, SURPLUS_ATTR, WORKER_ATTR


class TaggingObjective:
    """The trial objective's two steps: ``tag`` (worker attributes) and the training call, recorded."""

    def __init__(self) -> None:
        self.trained: list[int] = []

    def tag(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(WORKER_ATTR, "host:1")

    def __call__(self, trial: optuna.Trial) -> float:
        self.trained.append(trial.number)
        return trial.suggest_float("x", 0.0, 1.0)


class Gate:
    """A budget gate whose ``started`` answers as told (False: the trial is surplus)."""

    def __init__(self, admits: bool) -> None:
        self.admits = admits

    def started(self) -> bool:
        return self.admits


def study_with_queued_baseline(tmp_path: Path) -> optuna.Study:
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    study.enqueue_trial({"x": 0.25}, user_attrs={BASELINE_ATTR: True})
    return study


def test_a_surplus_trial_is_failed_untrained_and_its_queued_parameters_are_queued_again(
    tmp_path: Path,
) -> None:
    study = study_with_queued_baseline(tmp_path)
    objective = TaggingObjective()
    study.optimize(_WorkerObjective(objective, Gate(admits=False)), n_trials=1, catch=(Exception,))
    failed, queued = study.get_trials(deepcopy=False)
    assert objective.trained == []
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs[SURPLUS_ATTR] is True and failed.user_attrs[ERROR_ATTR] == SURPLUS_ERROR
    assert queued.state == TrialState.WAITING
    assert queued.user_attrs == {BASELINE_ATTR: True}  # the queued attributes, not the worker's tags
    study.optimize(_WorkerObjective(objective, Gate(admits=True)), n_trials=1)
    assert objective.trained == [queued.number]
    assert study.trials[queued.number].params == {"x": 0.25}


def test_a_surplus_trial_of_the_sampler_is_not_queued_again(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    study.optimize(_WorkerObjective(TaggingObjective(), Gate(admits=False)), n_trials=1, catch=(Exception,))
    assert [t.state for t in study.trials] == [TrialState.FAIL]
