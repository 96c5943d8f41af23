"""Create a study once, then run trials in one or several worker processes.

The launching process creates the Optuna study (and the MLflow experiment and parent run) before any
worker starts: concurrent schema creation on a fresh SQLite file or PostgreSQL database crashes. Workers
then join the study by its versioned name and storage URL, from this machine or any other.

``n_trials`` is the study's budget of finished (COMPLETE or PRUNED) trials, so running the same command
again resumes an interrupted study instead of adding a full budget on top. Any number of workers meet it
exactly (:mod:`admet_hpo.storage.budget`). Failed trials do not count against the budget; a worker starts
at most twice its remaining budget, so a study whose every trial fails still ends.

A worker survives what happens to other workers and to the database: a trial of a worker that died is
failed by its heartbeat and re-queued, and its MLflow run is closed as FAILED by the next worker (at start
and after every trial); transient database errors are retried (:class:`~admet_hpo.storage.rdb.
ResilientRDBStorage`); if its own trial was failed by another worker meanwhile (its heartbeats could not
reach the database for longer than the grace period), the worker closes that trial's MLflow run as FAILED
and goes on. Ctrl-C marks the running trial FAIL and its MLflow run FAILED, then re-raises.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import optuna
from optuna.trial import TrialState

from admet_hpo.masking import mask_text
from admet_hpo.search.algorithms import build_pruner, build_sampler
from admet_hpo.search.space import space_hash
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.search.warm_start import warm_start_new_version
from admet_hpo.storage.budget import BudgetGate
from admet_hpo.storage.rdb import study_lock
from admet_hpo.tracking.keys import (
    BASE_NAME_ATTR,
    ERROR_ATTR,
    FIXED_PARAMS_SYSTEM_ATTR,
    SPACE_HASH_ATTR,
    STUDY_FILE_ATTR,
    SURPLUS_ATTR,
)

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.search.objective import EpochObserver, TrialObjective
    from admet_hpo.tracking.tracker import StudyTracker

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
TrialFilter = Callable[[optuna.trial.FrozenTrial], bool]


@dataclass(frozen=True)
class RunSummary:
    """Counts of a study's trials by state after a run, and its best trial (if any completed).

    ``ran`` and ``ran_failed`` count the trials this invocation ran (in this process) and how many of
    them failed: an invocation whose every trial failed (``all_failed``) did not succeed."""

    study_name: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_number: int | None
    best_value: float | None
    ran: int = 0
    ran_failed: int = 0

    @property
    def all_failed(self) -> bool:
        """Whether this invocation ran trials and every one of them failed."""
        return self.ran > 0 and self.ran_failed == self.ran


def summarize(optuna_study: optuna.Study, ran: int = 0, ran_failed: int = 0) -> RunSummary:
    """Trial counts by state and the best completed trial; ``ran``/``ran_failed`` as in RunSummary."""
    trials = optuna_study.get_trials(deepcopy=False)
    count = {state: sum(t.state == state for t in trials) for state in TrialState}
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    best = optuna_study.best_trial if completed else None
    return RunSummary(
        study_name=optuna_study.study_name,
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
        running=count[TrialState.RUNNING],
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
        ran=ran,
        ran_failed=ran_failed,
    )


def prepare_study(session: StudySession) -> optuna.Study:
    """Create (or open) the study's Optuna study, MLflow store, experiment and parent run, once.

    The Optuna study is named :func:`versioned_study_name`: a changed search space opens a new version
    instead of crashing on Optuna's changed-distribution error; a new version is warm-started from the
    previous one (:func:`~admet_hpo.search.warm_start.warm_start_new_version`). Study user attributes
    record the study file, the base name and the space hash. The baseline trial is enqueued here, once
    (:func:`~admet_hpo.search.baseline.enqueue_baseline`).
    """
    from admet_hpo.search.baseline import enqueue_baseline
    from admet_hpo.tracking.store import ensure_tracking_store

    study = session.study
    name = versioned_study_name(study)
    optuna_study = optuna.create_study(
        study_name=name,
        storage=session.storage,
        sampler=build_sampler(study),
        pruner=build_pruner(study),
        direction=study.direction,
        load_if_exists=True,
    )
    for key, value in (
        (STUDY_FILE_ATTR, str(study.source)),
        (BASE_NAME_ATTR, study.name),
        (SPACE_HASH_ATTR, space_hash(study.space)),
    ):
        optuna_study.set_user_attr(key, value)
    lock = study_lock(session.storage, session.storage.get_study_id_from_name(name), study.file_storage)
    lock.acquire()  # several launchers preparing at once enqueue the baseline (trial 0) and warm start once
    try:
        enqueue_baseline(optuna_study, study)
        warm_start_new_version(study, optuna_study, session.storage)
    finally:
        lock.release()
    ensure_tracking_store(study.mlflow_tracking_uri)
    session.tracker(optuna_study)
    session.optuna_studies[(name, 0)] = optuna_study
    return optuna_study


def load_existing_study(session: StudySession, worker_index: int = 0) -> optuna.Study:
    """The study's Optuna study as created by :func:`prepare_study`, with this worker's sampler; opened
    once per process (the one :func:`prepare_study` returned, for worker 0 in the same process)."""
    study = session.study
    key = (versioned_study_name(study), worker_index)
    if key not in session.optuna_studies:
        session.optuna_studies[key] = optuna.load_study(
            study_name=key[0],
            storage=session.storage,
            sampler=build_sampler(study, worker_index=worker_index),
            pruner=build_pruner(study),
        )
    return session.optuna_studies[key]


def remaining_trials(
    optuna_study: optuna.Study, budget: int | None, counted: TrialFilter | None = None
) -> int | None:
    """How many more finished trials the budget allows (None = no trial budget); ``counted`` selects
    the trials the budget counts (default: all)."""
    if budget is None:
        return None
    finished = [
        t for t in optuna_study.get_trials(deepcopy=False, states=FINISHED) if counted is None or counted(t)
    ]
    return max(budget - len(finished), 0)


#: ``error`` of a surplus trial.
SURPLUS_ERROR = (
    "admitted while the study lock was lost (a dropped database connection) and the budget was then full"
)

#: ``optuna.error`` of the MLflow run of a trial that another worker failed while this one still ran it.
TAKEN_OVER_ERROR = (
    "the trial was failed by another worker (its heartbeats did not reach the storage within the grace "
    "period) while this worker still ran it; it was re-queued"
)


class _WorkerObjective:
    """The trial objective plus one worker's bookkeeping: tags the trial (so that the budget counts it),
    then releases the budget gate, and remembers which trial it runs, so that a trial left behind can be
    reconciled."""

    def __init__(self, objective: TrialObjective, gate: BudgetGate | None) -> None:
        self.objective = objective
        self.gate = gate
        self.trial_number: int | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        self.trial_number = trial.number
        queued_attrs = dict(trial.user_attrs)  # an enqueued trial's own attributes, before the tags
        self.objective.tag(trial)
        if self.gate is not None and not self.gate.started():
            _give_back_surplus(trial, queued_attrs)
        _reclaim_sigint()
        return self.objective(trial)


class BudgetSurplusError(RuntimeError):
    """The trial was admitted while the study lock was lost and the budget was full (it is not trained)."""


def _give_back_surplus(trial: optuna.Trial, queued_attrs: dict[str, object]) -> NoReturn:
    """Fail a surplus trial (see :mod:`admet_hpo.storage.budget`) before it trains: mark it, re-queue its
    parameters if it came from the queue (a baseline, warm-start or re-queued trial is not lost), raise."""
    trial.set_user_attr(SURPLUS_ATTR, True)
    trial.set_user_attr(ERROR_ATTR, SURPLUS_ERROR)
    running = trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    frozen = next(t for t in running if t.number == trial.number)
    fixed_params = frozen.system_attrs.get(FIXED_PARAMS_SYSTEM_ATTR)
    if fixed_params:
        trial.study.enqueue_trial(fixed_params, user_attrs=queued_attrs)
    log.warning("trial %d is beyond the budget (%s); not trained", trial.number, SURPLUS_ERROR)
    raise BudgetSurplusError(SURPLUS_ERROR)


class _WorkerRun:
    """One worker's trials of an open study: the optimisation loop with its safety nets."""

    def __init__(
        self,
        optuna_study: optuna.Study,
        storage: RDBStorage,
        objective: _WorkerObjective,
        tracker: StudyTracker,
    ) -> None:
        self.optuna_study = optuna_study
        self.storage = storage
        self.objective = objective
        self.tracker = tracker
        self.study_id = storage.get_study_id_from_name(optuna_study.study_name)
        self.ran = 0
        self.ran_failed = 0

    def close_stale_runs(self) -> None:
        """Close the MLflow runs still RUNNING of finished trials (trials of dead workers)."""
        self.tracker.close_stale_runs(self.optuna_study)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback: the trial was told normally (counted as this invocation's); close the runs of
        dead workers' trials and update the study's summary on the parent run (both in the tracker's
        background thread: :meth:`record_study`, from the trials as read here, so that each summary is
        the one of this trial's end however late the thread gets to it)."""
        self.objective.trial_number = None
        if trial.user_attrs.get(SURPLUS_ATTR):
            return  # not a trial this invocation ran
        self.ran += 1
        self.ran_failed += trial.state == TrialState.FAIL
        self.tracker.defer(self.record_study, study, study.get_trials(deepcopy=False))

    def record_study(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        """Close the MLflow runs of dead workers' trials and log the study's summary, both from
        ``trials`` (the study's trials at the moment to record)."""
        self.tracker.close_stale_runs(study, trials)
        self.tracker.log_study_summary(study, trials)

    def current_trial_id(self) -> int | None:
        """The storage id of the trial this worker runs (from its objective's start until it is told)."""
        number = self.objective.trial_number
        if number is None:
            return None
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def current_trial(self) -> FrozenTrial | None:
        """The trial this worker runs, as stored now (None between trials)."""
        trial_id = self.current_trial_id()
        return None if trial_id is None else self.storage.get_trial(trial_id)

    def taken_over(self) -> bool:
        """Whether the error that escaped Optuna's optimisation loop comes from this worker's trial having
        been finished by someone else while this worker ran it (Optuna then cannot tell it); if so, its
        MLflow run is closed with the stored state."""
        trial = self.current_trial()
        if trial is None or trial.state == TrialState.RUNNING:
            return False
        self.objective.trial_number = None
        run_id = self.objective.objective.run_id
        if run_id is not None:
            error = TAKEN_OVER_ERROR if trial.state == TrialState.FAIL else None
            self.tracker.finish_trial(run_id, trial.state, value=trial.value, error=error)
        log.warning("trial %d was finished by another worker (%s); going on", trial.number, trial.state.name)
        return True

    def fail_if_running(self) -> None:
        """After an interruption: a trial of this worker still RUNNING is set FAIL (best effort)."""
        try:
            trial_id = self.current_trial_id()
            if trial_id is not None and self.storage.get_trial(trial_id).state == TrialState.RUNNING:
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except Exception as exc:  # the storage may be what failed; the heartbeat will fail the trial
            log.warning("could not mark trial %s FAIL: %s", self.objective.trial_number, mask_text(str(exc)))


def run_worker(
    session: StudySession,
    *,
    n_trials: int | None,
    timeout: float | None,
    worker_index: int = 0,
    observer: EpochObserver | None = None,
    callbacks: tuple[TrialCallback, ...] = (),
    trial_attrs: dict[str, object] | None = None,
    counted: TrialFilter | None = None,
    poll_seconds: float | None = None,
    plots: bool = True,
) -> RunSummary:
    """Run trials of an existing study in this process until the budget or the timeout is spent.

    ``plots``: log the study plots on the parent run at the end (once per invocation: a launcher that
    starts several workers turns it off in them and logs the plots itself, see :func:`log_plots`).

    ``n_trials`` is the study's budget of finished trials, shared exactly with every other worker (see
    :mod:`admet_hpo.storage.budget`); ``counted`` selects the trials it counts (a nightly sweep counts
    its night's); None runs until ``timeout`` or until a callback stops the study.
    A trial that raises is recorded FAIL (its error as the ``error`` user attribute) and the study goes
    on. Ctrl-C marks the running trial FAIL, closes its MLflow run as FAILED and re-raises.
    ``trial_attrs`` become user attributes of every trial this worker runs. ``poll_seconds`` is how often
    a worker waiting for other workers' trials looks again (default: the heartbeat interval, at most 5 s).
    """
    from admet_hpo.search.objective import TrialObjective
    from admet_hpo.training.devices import plan_devices

    study = session.study
    plan_devices(study.base_training.trainer)  # this worker's machine, before any trial
    storage = session.storage
    optuna_study = load_existing_study(session, worker_index)
    remaining = remaining_trials(optuna_study, n_trials, counted)
    if remaining == 0:
        return summarize(optuna_study)
    deadline = None if timeout is None else time.monotonic() + timeout
    tracker = session.tracker(optuna_study)
    gate = None
    if n_trials is not None and remaining is not None:
        gate = BudgetGate(
            optuna_study,
            study_lock(storage, storage.get_study_id_from_name(optuna_study.study_name), study.file_storage),
            n_trials,
            counted=counted,
            max_starts=2 * remaining,
            deadline=deadline,
            poll_seconds=poll_seconds if poll_seconds is not None else min(study.heartbeat.interval, 5),
        )
    objective = _WorkerObjective(TrialObjective(study, tracker, session.data, observer, trial_attrs), gate)
    worker = _WorkerRun(optuna_study, storage, objective, tracker)
    worker.close_stale_runs()
    sigint_handler = signal.getsignal(signal.SIGINT)
    try:
        while gate is None or gate.admit():
            try:
                optuna_study.optimize(
                    objective,
                    timeout=None if deadline is None else max(deadline - time.monotonic(), 0.0),
                    catch=(Exception,),
                    callbacks=[worker.after_trial, *callbacks, *([gate] if gate else [])],
                )
                break
            except Exception:
                if not worker.taken_over():
                    raise
    except BaseException:
        worker.fail_if_running()
        raise
    finally:
        if gate is not None:
            gate.release()
        _restore_sigint(sigint_handler)
    worker.close_stale_runs()
    tracker.flush()
    if plots:
        tracker.log_study_plots(tracker.parent_run_id, optuna_study)
    return summarize(optuna_study, worker.ran, worker.ran_failed)


def log_plots(session: StudySession, optuna_study: optuna.Study) -> list[str]:
    """Log the study plots on its parent run (what a launcher does once after its workers end)."""
    tracker = session.tracker(optuna_study)
    return tracker.log_study_plots(tracker.parent_run_id, optuna_study)


def finish_parent_run(
    session: StudySession, optuna_study: optuna.Study, budget: int | None, *, failed: bool
) -> None:
    """Close the study's MLflow parent run after an invocation: FAILED when the invocation ``failed``
    (every trial it ran failed, or a worker failed), FINISHED once the budget is spent; otherwise it
    stays RUNNING for the next invocation (which reopens a closed one anyway)."""
    tracker = session.tracker(optuna_study)
    if failed:
        tracker.finish_study("FAILED")
    elif remaining_trials(optuna_study, budget) == 0:
        tracker.finish_study("FINISHED")


def _restore_sigint(handler: object) -> None:
    """Lightning ignores SIGINT after a Ctrl-C during training; give the process its handler back."""
    if (
        signal.getsignal(signal.SIGINT) is not handler
        and threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGINT, handler)  # type: ignore[arg-type]


def _reclaim_sigint() -> None:
    """Install Python's SIGINT handler again at the C level before a trial trains.

    RDKit's ``ControlCHandler`` replaces it while some RDKit objects live (here: from computing the
    table's InChIKeys until a garbage collection destroys them), and then swallows Ctrl-C: a first trial
    would not be interruptible. Python's own record of the handler is unchanged, so it is reinstated.
    """
    handler = signal.getsignal(signal.SIGINT)
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
