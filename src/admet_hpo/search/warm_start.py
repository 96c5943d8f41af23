"""Warm start of a new study version from the previous version's completed trials.

A changed search space gives a new Optuna study (:mod:`admet_hpo.search.versioning`). When that version
is new (no trial yet besides its baseline, trial 0), :func:`warm_start_new_version` enqueues the best
``warm_start.top_k`` parameter sets of the *previous version*, best first, among its completed trials
whose parameters fit the new space; the new version's next trials train them again, so the sampler
learns from results measured in the new version, under its pruner and budget (they count as ordinary
trials).

- **Previous version**: among the other versions of the study in the storage (same name, another space
  hash), the one with the most recent completed trial.
- **Fits**: the new space, replayed on the trial's stored parameters, asks for exactly those parameters
  (none missing, none left over: a trial of a space that lacked a parameter, or had one more, trained
  another configuration) and every value lies inside its new distribution (e.g. inside widened bounds,
  one of the categorical choices).

It runs once per version: the version records what it did as the study user attribute ``warm_start``
(``{"source": <version>, "trials": [<source trial numbers>]}``, also when nothing fitted), and a version
that already has trials is left alone. ``warm_start: {enabled: false}`` in the study file turns it off.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FixedTrial, FrozenTrial, TrialState

from admet_hpo.search.space import suggest
from admet_hpo.search.versioning import study_versions
from admet_hpo.tracking.keys import BASELINE_ATTR

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from admet_hpo.config.search_space import SearchSpace
    from admet_hpo.config.study import Study

#: Study user attribute of a version: the warm start it received (see the module docstring).
WARM_START_ATTR = "warm_start"
#: Trial user attribute of an enqueued warm-start trial: ``<source version>#<source trial number>``.
WARM_START_FROM_ATTR = "warm_start_from"


def ranked(trials: Sequence[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """The completed trials among ``trials``, best value first for ``direction``, then by trial number."""
    sign = -1.0 if direction == "maximize" else 1.0
    completed = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return sorted(completed, key=lambda t: (sign * t.value, t.number))


def fits(space: SearchSpace, params: Mapping[str, Any]) -> bool:
    """Whether ``params`` (a trial's stored Optuna parameters) fit ``space`` (see the module docstring)."""
    replay = FixedTrial(dict(params))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FixedTrial warns on out-of-range values; checked below
            suggest(replay, space)
        optuna.trial.create_trial(params=replay.params, distributions=replay.distributions, value=0.0)
    except ValueError:  # a parameter missing, a choice not offered, or a value outside its distribution
        return False
    return set(replay.params) == set(params)


def previous_version(study: Study, optuna_study: optuna.Study, storage: BaseStorage) -> optuna.Study | None:
    """The version of ``study`` in ``storage`` with the most recent completed trial, other than
    ``optuna_study``."""
    latest: tuple[Any, optuna.Study] | None = None
    for name in study_versions(study, storage):
        if name == optuna_study.study_name:
            continue
        other = optuna.load_study(study_name=name, storage=storage)
        done = [t.datetime_complete for t in other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if done and (latest is None or max(done) > latest[0]):
            latest = (max(done), other)
    return None if latest is None else latest[1]


def warm_start_new_version(
    study: Study, optuna_study: optuna.Study, storage: BaseStorage
) -> dict[str, Any] | None:
    """Enqueue in the new version ``optuna_study`` (in ``storage``) the best fitting parameter sets of the
    previous version and record it (see the module docstring); the record, or None when nothing was done
    (turned off, not a new version, or no previous version)."""
    if not study.warm_start.enabled or WARM_START_ATTR in optuna_study.user_attrs:
        return None
    if any(
        trial.user_attrs.get(BASELINE_ATTR) is not True for trial in optuna_study.get_trials(deepcopy=False)
    ):
        return None  # not a new version: it has trials besides its baseline
    source = previous_version(study, optuna_study, storage)
    if source is None:
        return None
    chosen: list[FrozenTrial] = []
    for trial in ranked(source.get_trials(deepcopy=False), study.direction):
        if len(chosen) == study.warm_start.top_k:
            break
        if fits(study.space, trial.params) and all(trial.params != other.params for other in chosen):
            chosen.append(trial)
    for trial in chosen:
        optuna_study.enqueue_trial(
            trial.params, user_attrs={WARM_START_FROM_ATTR: f"{source.study_name}#{trial.number}"}
        )
    record = {"source": source.study_name, "trials": [trial.number for trial in chosen]}
    optuna_study.set_user_attr(WARM_START_ATTR, record)
    return record


def warm_start_note(optuna_study: optuna.Study) -> str | None:
    """One line saying how this version was warm-started, for the start of a run; None if it was not."""
    record = optuna_study.user_attrs.get(WARM_START_ATTR)
    if not isinstance(record, dict):
        return None
    trials = record.get("trials", [])
    if not trials:
        return f"warm start: no completed trial of {record.get('source')} fits this search space"
    numbers = ", ".join(str(number) for number in trials)
    return (
        f"warm start: {len(trials)} best parameter set(s) of {record.get('source')} (trials {numbers}) "
        "enqueued as this version's first trials"
    )
