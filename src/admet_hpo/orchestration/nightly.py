"""Nightly sweeps: one night's budget of trials added to a study, safely repeatable.

A night (``hpo nightly`` / ``hpo schedule``), in order:

1. **Data version.** The table's content hash is compared with the ``data_hash`` user attribute of the
   study's Optuna study (recorded on its first night). A different hash never mixes results: the night
   goes to the study version ``<name>-d<hash[:8]>-<space hash[:8]>`` (created if needed), which records
   the version it replaced as ``previous_version``. The study's base version keeps a pointer to the
   version nightly sweeps use (``nightly_version``), so going back to the original data goes back to it.
2. **Stale trials.** Trials whose worker stopped sending heartbeats are failed now (and re-queued by the
   storage's retry callback), and their MLflow runs still RUNNING are closed as FAILED.
3. **Warm start.** The best ``warm_start_top_k`` distinct parameter sets of earlier nights (completed
   trials whose ``night`` is an earlier date; for a version without an earlier night, those of the
   version it replaced) are enqueued, best first, except sets already enqueued or run tonight.
4. **Budget.** Every trial is tagged with the user attribute ``night=<YYYY-MM-DD>``. ``nightly.n_trials``
   counts that night's finished (COMPLETE or PRUNED) trials, exactly as ``hpo run``'s budget does
   (:mod:`admet_hpo.storage.budget`), and ``nightly.minutes`` the time its trials took, so a second
   call on the same date only tops the night up: once the budget is spent it adds nothing. Failed
   trials do not count, so they are retried up to the budget (a night starts at most twice its
   remaining trial budget, so a night whose every trial fails still ends).

:func:`run_nightly` does all of it; :func:`plan_night` (steps 1-3) and :func:`run_night` (step 4) let a
caller report the plan before the trials start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import optuna
from optuna.trial import FrozenTrial, TrialState

from admet_hpo.config.locations import require_sqlite_file
from admet_hpo.orchestration.runner import RunSummary, load_existing_study, prepare_study, run_worker
from admet_hpo.search.versioning import VERSION_DIGITS, study_versions, versioned_study_name
from admet_hpo.search.warm_start import ranked
from admet_hpo.tracking.keys import (
    DATA_HASH_ATTR,
    FIXED_PARAMS_SYSTEM_ATTR,
    NIGHT_ATTR,
    NIGHTLY_VERSION_ATTR,
    PREVIOUS_VERSION_ATTR,
)

if TYPE_CHECKING:
    from admet_hpo.config.study import Study
    from admet_hpo.orchestration.runner import TrialCallback
    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.search.objective import EpochObserver


_ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def night_of(moment: datetime, timezone: str) -> date:
    """The date of ``moment`` (an aware datetime) in ``timezone``: the night a sweep started then is in."""
    return moment.astimezone(ZoneInfo(timezone)).date()


# ----------------------------------------------------------------------------------------- data versions


def data_version_study(study: Study, data_hash: str) -> Study:
    """``study`` renamed ``<name>-d<hash[:8]>``: its Optuna study becomes the version for that data."""
    return dataclasses.replace(study, name=f"{study.name}-d{data_hash[:VERSION_DIGITS]}")


@dataclass(frozen=True)
class DataVersion:
    """Which Optuna study a night uses for its data.

    ``study`` is the study to run (the study file's, or its data version) and ``name`` its Optuna study,
    which ``exists`` already or not; ``previous`` is the version nightly sweeps used before (still in the
    storage) when it differs, i.e. the data changed since, else None.
    """

    study: Study
    name: str
    exists: bool
    data_hash: str
    previous: str | None
    previous_data_hash: str | None


def _user_attrs(storage: optuna.storages.BaseStorage, name: str) -> dict[str, Any] | None:
    try:
        return storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except KeyError:
        return None


def choose_data_version(study: Study, storage: optuna.storages.BaseStorage, data_hash: str) -> DataVersion:
    """The version a night with data ``data_hash`` runs in (see the module docstring); nothing is created.

    The base version (:func:`versioned_study_name`) is used while it is new, has no recorded hash (it was
    created by ``hpo run`` before any night) or recorded this hash; otherwise the data version.
    """
    base_name = versioned_study_name(study)
    base_attrs = _user_attrs(storage, base_name)
    recorded = None if base_attrs is None else base_attrs.get(DATA_HASH_ATTR)
    target = study if recorded in (None, data_hash) else data_version_study(study, data_hash)
    name = versioned_study_name(target)
    pointer = None if base_attrs is None else base_attrs.get(NIGHTLY_VERSION_ATTR, base_name)
    previous_attrs = _user_attrs(storage, pointer) if pointer not in (None, name) else None
    return DataVersion(
        study=target,
        name=name,
        exists=_user_attrs(storage, name) is not None,
        data_hash=data_hash,
        previous=None if previous_attrs is None else pointer,
        previous_data_hash=None if previous_attrs is None else previous_attrs.get(DATA_HASH_ATTR),
    )


def open_data_version(session: StudySession, version: DataVersion) -> tuple[StudySession, optuna.Study]:
    """Create (or open) the version's Optuna study and MLflow parent run, record its data hash and the
    version it replaced, and point the base version at it; return the version's session and study."""
    version_session = session.for_study(version.study)
    optuna_study = prepare_study(version_session)
    if DATA_HASH_ATTR not in optuna_study.user_attrs:
        optuna_study.set_user_attr(DATA_HASH_ATTR, version.data_hash)
    if version.previous is not None:
        optuna_study.set_user_attr(PREVIOUS_VERSION_ATTR, version.previous)
    base = optuna.load_study(study_name=versioned_study_name(session.study), storage=session.storage)
    base.set_user_attr(NIGHTLY_VERSION_ATTR, version.name)
    return version_session, optuna_study


# ------------------------------------------------------------------------------------------ stale trials


@dataclass(frozen=True)
class Reaped:
    """Stale trials failed in one study version, and the MLflow runs closed for them."""

    study_name: str
    failed_trials: list[int]
    closed_runs: list[str]


def reap_stale_trials(optuna_study: optuna.Study, tracking_uri: str) -> Reaped:
    """Fail the study's stale trials now and close their MLflow runs (and any other run left RUNNING by a
    finished trial) with the trial's status, FAIL -> FAILED.

    The study's storage must have heartbeats on (:func:`~admet_hpo.storage.rdb.open_storage` with a
    heartbeat config); its retry callback re-queues each failed trial up to ``max_retry`` times.
    """
    from admet_hpo.tracking.tracker import StudyTracker

    running = {t.number for t in optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(optuna_study)
    failed = sorted(
        t.number
        for t in optuna_study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.number in running
    )
    closed = StudyTracker(tracking_uri).close_stale_runs(optuna_study)
    return Reaped(optuna_study.study_name, failed, closed)


def reap_study(session: StudySession) -> list[Reaped]:
    """:func:`reap_stale_trials` on every version of the session's study in its storage (see
    :func:`~admet_hpo.search.versioning.study_versions`); a storage without the study gives an empty
    list, a missing SQLite file a :class:`~admet_hpo.errors.ConfigError` (nothing is created)."""
    study = session.study
    require_sqlite_file(study.storage, f"run 'hpo run {study.source}' first, or pass --storage")
    storage = session.storage
    return [
        reap_stale_trials(optuna.load_study(study_name=name, storage=storage), study.mlflow_tracking_uri)
        for name in study_versions(study, storage)
    ]


# -------------------------------------------------------------------------------------------- warm start


def trial_night(trial: FrozenTrial) -> str | None:
    """The night a trial belongs to (its ``night`` user attribute), None for trials of other runs."""
    night = trial.user_attrs.get(NIGHT_ATTR)
    return night if isinstance(night, str) else None


def parameter_set(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's parameter set: sampled parameters, or the fixed ones of a trial waiting in the queue."""
    return dict(trial.params) if trial.params else dict(trial.system_attrs.get(FIXED_PARAMS_SYSTEM_ATTR, {}))


def best_of_earlier_nights(
    trials: Sequence[FrozenTrial], night: str, k: int, direction: str
) -> list[FrozenTrial]:
    """The ``k`` best completed trials of nights before ``night``, one per distinct parameter set, best
    first (ties keep the earlier trial)."""
    earlier = [t for t in trials if (trial_night(t) or night) < night]
    chosen: list[FrozenTrial] = []
    for trial in ranked(earlier, direction):
        if len(chosen) == k:
            break
        if all(trial.params != other.params for other in chosen):
            chosen.append(trial)
    return chosen


def warm_start(
    optuna_study: optuna.Study, sources: Sequence[optuna.Study], night: str, k: int, limit: int | None
) -> list[dict[str, Any]]:
    """Enqueue in ``optuna_study`` the best ``k`` parameter sets of earlier nights in ``sources`` (see
    :func:`best_of_earlier_nights`), skipping sets already enqueued or run on ``night``, at most ``limit``;
    return the sets enqueued. Enqueued trials carry ``night`` already."""
    trials = [t for source in sources for t in source.get_trials(deepcopy=False)]
    direction = _direction(optuna_study)
    tonight = [parameter_set(t) for t in optuna_study.get_trials(deepcopy=False) if trial_night(t) == night]
    enqueued: list[dict[str, Any]] = []
    for trial in best_of_earlier_nights(trials, night, k, direction):
        if limit is not None and len(enqueued) >= limit:
            break
        if trial.params in tonight:
            continue
        optuna_study.enqueue_trial(trial.params, user_attrs={NIGHT_ATTR: night})
        tonight.append(dict(trial.params))
        enqueued.append(dict(trial.params))
    return enqueued


# ------------------------------------------------------------------------------------------------ budget


@dataclass(frozen=True)
class NightCounts:
    """A night's trials so far: finished (COMPLETE + PRUNED), failed, and seconds spent by ended trials."""

    complete: int
    pruned: int
    failed: int
    seconds: float

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def night_counts(trials: Sequence[FrozenTrial], night: str) -> NightCounts:
    """Count ``night``'s trials by state and add up the durations of those that ended."""
    ours = [t for t in trials if trial_night(t) == night]
    seconds = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in ours
        if t.state in _ENDED and t.datetime_start is not None and t.datetime_complete is not None
    )
    return NightCounts(
        complete=sum(t.state == TrialState.COMPLETE for t in ours),
        pruned=sum(t.state == TrialState.PRUNED for t in ours),
        failed=sum(t.state == TrialState.FAIL for t in ours),
        seconds=seconds,
    )


@dataclass(frozen=True)
class NightBudget:
    """What is left of a night's budget: trials to finish (None = no trial budget) and seconds (None = no
    time budget). Spent when either reaches zero."""

    trials: int | None
    seconds: float | None

    @property
    def spent(self) -> bool:
        return self.trials == 0 or (self.seconds is not None and self.seconds <= 0)


def remaining_budget(n_trials: int | None, minutes: float | None, counts: NightCounts) -> NightBudget:
    """The night's budget (``nightly.n_trials`` / ``nightly.minutes``) minus what ``counts`` used."""
    return NightBudget(
        trials=None if n_trials is None else max(n_trials - counts.finished, 0),
        seconds=None if minutes is None else max(minutes * 60.0 - counts.seconds, 0.0),
    )


# ------------------------------------------------------------------------------------------------- night


@dataclass(frozen=True)
class NightPlan:
    """Everything decided before a night's trials start (see :func:`plan_night`); ``session`` is the
    session of the version the night runs in."""

    session: StudySession
    night: str
    version: DataVersion
    reaped: list[Reaped]
    enqueued: list[dict[str, Any]]
    before: NightCounts
    budget: NightBudget

    @property
    def study(self) -> Study:
        """The study (version) the night runs."""
        return self.session.study


@dataclass(frozen=True)
class NightReport:
    """A night's outcome: its plan, its trial counts afterwards, its best completed trial and the
    summary of the trials this call ran (None when the budget was spent before)."""

    plan: NightPlan
    after: NightCounts
    best_number: int | None
    best_value: float | None
    run: RunSummary | None = None

    @property
    def all_failed(self) -> bool:
        """Whether this call ran trials and every one of them failed."""
        return self.run is not None and self.run.all_failed

    @property
    def added(self) -> int:
        """Finished trials this call added to the night."""
        return self.after.finished - self.plan.before.finished


def _source_studies(optuna_study: optuna.Study, storage: optuna.storages.BaseStorage, night: str) -> list:
    """The studies whose earlier nights warm-start ``optuna_study``: itself, or the version it replaced
    while it has no earlier night of its own."""
    own = optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if any((trial_night(t) or night) < night for t in own):
        return [optuna_study]
    previous = optuna_study.user_attrs.get(PREVIOUS_VERSION_ATTR)
    if not isinstance(previous, str) or previous not in optuna.get_all_study_names(storage):
        return [optuna_study]
    return [optuna_study, optuna.load_study(study_name=previous, storage=storage)]


def plan_night(session: StudySession, night: date) -> NightPlan:
    """Steps 1-3 of a night (data version, stale trials, warm start) and its remaining budget.

    Hashes the session's data (loaded once: the trials train on the same load; a
    :class:`~admet_hpo.errors.AdmetHpoError` when it cannot be loaded). Warm-start sets are enqueued only
    while the night has budget left, at most its remaining trials.
    """
    study = session.study
    tonight = night.isoformat()
    table, _ = session.data
    storage = session.storage
    version = choose_data_version(study, storage, table.content_hash)
    version_session, optuna_study = open_data_version(session, version)
    reaped = [reap_stale_trials(optuna_study, study.mlflow_tracking_uri)]
    if version.previous is not None:
        left = optuna.load_study(study_name=version.previous, storage=storage)
        reaped.append(reap_stale_trials(left, study.mlflow_tracking_uri))
    before = night_counts(optuna_study.get_trials(deepcopy=False), tonight)
    budget = remaining_budget(study.nightly.n_trials, study.nightly.minutes, before)
    enqueued: list[dict[str, Any]] = []
    if not budget.spent and study.nightly.warm_start_top_k > 0:
        sources = _source_studies(optuna_study, storage, tonight)
        enqueued = warm_start(optuna_study, sources, tonight, study.nightly.warm_start_top_k, budget.trials)
    return NightPlan(
        session=version_session,
        night=tonight,
        version=version,
        reaped=reaped,
        enqueued=enqueued,
        before=before,
        budget=budget,
    )


def run_night(
    plan: NightPlan,
    *,
    observer: EpochObserver | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> NightReport:
    """Step 4: run the plan's remaining budget in this process, every trial tagged with the night.

    The night's budget is exact (:class:`~admet_hpo.storage.budget.BudgetGate` counting the night's
    trials), with any number of concurrent callers. A seeded sampler gets the night's day number added
    to its seed: each night draws new parameters (a fixed seed would repeat the same draws every night),
    reproducibly.
    """
    run = None
    if not plan.budget.spent:
        run = run_worker(
            plan.session,
            n_trials=plan.study.nightly.n_trials,
            timeout=plan.budget.seconds,
            worker_index=date.fromisoformat(plan.night).toordinal(),
            observer=observer,
            callbacks=tuple(callbacks),
            trial_attrs={NIGHT_ATTR: plan.night},
            counted=lambda trial: trial_night(trial) == plan.night,
        )
    optuna_study = load_existing_study(plan.session)
    trials = optuna_study.get_trials(deepcopy=False)
    best = next(
        iter(ranked([t for t in trials if trial_night(t) == plan.night], _direction(optuna_study))), None
    )
    return NightReport(
        plan=plan,
        after=night_counts(trials, plan.night),
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
        run=run,
    )


def run_nightly(session: StudySession, night: date, *, observer: EpochObserver | None = None) -> NightReport:
    """One night of the session's study: :func:`plan_night` then :func:`run_night`."""
    return run_night(plan_night(session, night), observer=observer)


def _direction(optuna_study: optuna.Study) -> str:
    return "maximize" if optuna_study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


def parameter_summary(params: Mapping[str, Any], limit: int = 4) -> str:
    """``name=value`` pairs of a parameter set for one line of output (floats to 4 significant digits)."""
    shown = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(params.items())[:limit]]
    return ", ".join(shown) + (" …" if len(params) > limit else "")
