"""Exact trial budgets shared by any number of workers of one study.

A study's budget is a number of *finished* (COMPLETE or PRUNED) trials. Optuna's ``MaxTrialsCallback``
checks the count after each trial, so K workers can overshoot by up to K - 1 trials; this module admits
trials so that the budget is met exactly.

Claims. A trial *claims* one slot of the budget while it is RUNNING and keeps it once finished; a trial
that FAILs (an error, Ctrl-C, or a dead worker's trial failed by its heartbeat) gives its slot back.

Admission. Before a worker asks Optuna for a trial it takes the study lock
(:func:`~admet_hpo.storage.rdb.study_lock`: a PostgreSQL advisory lock, or an ``flock`` beside a
SQLite file) and counts the claims. It may start a trial only while ``claims < budget``, and it keeps the
lock until that trial is RUNNING in the storage (the worker's objective calls :meth:`BudgetGate.started`
as its first step). Hence ``claims <= budget`` at every moment, whatever the number of workers: no
surplus trial is ever created, so none has to be recorded or cleaned up.

Waiting. When the claims fill the budget but some are still running (in this or other workers), a
worker neither starts a trial nor leaves: it polls every ``poll_seconds``, failing stale trials each time
(:func:`~admet_hpo.storage.rdb.fail_stale_trials`), until the budget's trials are all finished (it
stops) or a slot is given back (it runs the next trial, which is the re-queued copy of a dead worker's
trial when there is one, since Optuna hands out waiting trials first). Trials enqueued beyond the
budget stay WAITING for a later run.

A lost lock. The PostgreSQL lock lives in a database session: if the server ends that session (a
restart, a terminated connection) between the count and the new trial, the lock is released and another
worker can be admitted in between. So :meth:`BudgetGate.started` checks that the lock was held without
interruption (:meth:`~admet_hpo.storage.rdb.StudyLock.intact`); if it was not, it takes the lock again and
counts the claims, its own RUNNING trial included. Every worker admitted meanwhile has its trial RUNNING
by then (it holds the lock until it has), so if the claims exceed the budget this worker's trial is the
*surplus*: :meth:`started` returns False, and the worker fails that trial (marked as surplus) instead of
training it. The budget of finished trials is thus met exactly even across lost connections.

Counting. Claims are counted through the study (Optuna's cached storage): a finished trial never
changes, so it is read from the database once; each count reads only the trials that were unfinished or
newer than the last finished one, whatever the study's size (a full read of a 200-trial study took
~200 ms per trial on PostgreSQL). Trials are created under the study lock, so another worker's claim is
committed before this worker counts. A re-queued trial is created without the lock and becomes a claim
when a worker takes it; a count misses it only if its creation commits after a later trial has finished
and been counted, which would let one trial beyond the budget start.

A worker also stops after ``max_starts`` trials of its own (so a study whose every trial fails ends) and
at its deadline. The exactness needs the lock: with a database other than PostgreSQL or SQLite there is
none, and concurrent workers may overshoot as with Optuna's callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from admet_hpo.storage.rdb import StudyLock, fail_stale_trials

log = logging.getLogger(__name__)

CLAIMING = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


class BudgetGate:
    """Admits the trials of one worker so that all workers together finish exactly ``budget`` trials.

    Use :meth:`admit` before the first trial, the gate itself as the *last* Optuna callback (it admits the
    next trial or stops the study), :meth:`started` as the objective's first step and :meth:`release` in a
    ``finally`` around the optimisation. ``counted`` selects the trials the budget counts (default: all;
    a nightly sweep counts its night's trials: the objective tags a trial before :meth:`started`).
    ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        optuna_study: optuna.Study,
        lock: StudyLock,
        budget: int,
        *,
        counted: Callable[[FrozenTrial], bool] | None = None,
        max_starts: int | None = None,
        deadline: float | None = None,
        poll_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.optuna_study = optuna_study
        self.lock = lock
        self.budget = budget
        self.counted = counted
        self.max_starts = max_starts
        self.deadline = deadline
        self.poll_seconds = poll_seconds
        self.starts = 0
        self._sleep = sleep
        self._clock = clock

    def counts(self) -> tuple[int, int]:
        """``(finished, running)`` trials of the study in the storage now."""
        trials = self.optuna_study.get_trials(deepcopy=False, states=CLAIMING)
        if self.counted is not None:
            trials = [t for t in trials if self.counted(t)]
        running = sum(t.state == TrialState.RUNNING for t in trials)
        return len(trials) - running, running

    def admit(self) -> bool:
        """Wait until this worker may start a trial (True, with the study lock held until
        :meth:`started` or :meth:`release`) or must stop (False: the budget's trials are finished, this
        worker started ``max_starts`` trials, or its deadline passed)."""
        waiting_for: int | None = None
        while self._may_start():
            self.lock.acquire()
            finished, running = self.counts()
            if finished >= self.budget:
                self.lock.release()
                return False
            if finished + running < self.budget:
                return True
            self.lock.release()
            if waiting_for != running:
                log.info(
                    "budget of %d trials: %d finished, %d running elsewhere; waiting for them",
                    self.budget,
                    finished,
                    running,
                )
                waiting_for = running
            self._sleep(self._poll_wait())
            fail_stale_trials(self.optuna_study)
        return False

    def started(self) -> bool:
        """The admitted trial is RUNNING in the storage: count it and let other workers count too.

        Returns whether the trial may run: False when the lock was lost since :meth:`admit` and the
        claims, counted again under the lock, exceed the budget (the trial is surplus; see the module
        docstring)."""
        self.starts += 1
        if self.lock.intact():
            self.lock.release()
            return True
        log.warning("the study lock was lost while a trial was admitted; counting the budget again")
        self.lock.release()
        self.lock.acquire()
        try:
            finished, running = self.counts()
        finally:
            self.lock.release()
        return finished + running <= self.budget

    def release(self) -> None:
        """Release the study lock if this worker holds it (after the optimisation, whatever ended it)."""
        self.lock.release()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback after each trial: admit the next trial, or stop the study."""
        if not self.admit():
            study.stop()

    def _may_start(self) -> bool:
        if self.max_starts is not None and self.starts >= self.max_starts:
            return False
        return self.deadline is None or self._clock() < self.deadline

    def _poll_wait(self) -> float:
        if self.deadline is None:
            return self.poll_seconds
        return max(min(self.poll_seconds, self.deadline - self._clock()), 0.0)
