"""A trial's intermediate values, written to the study storage off the training thread.

``trial.report`` is one storage transaction per epoch (a few round trips: 3-6 ms on PostgreSQL). Nothing
on the trial's path needs the value in the storage at once, except the pruner, which reads the trial's
values when it decides. :class:`BackgroundReports` therefore writes each report on its own thread, in
order, and :meth:`BackgroundReports.wait` makes them all stored: the objective calls it before asking
the pruner and before the trial ends (Optuna refuses intermediate values of a finished trial). The live
display and optuna-dashboard see a value a few milliseconds later than with a direct report; a report
that failed (the storage unreachable past its retries) raises at the next :meth:`~BackgroundReports.wait`
and fails the trial.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import optuna


class BackgroundReports:
    """``trial.report`` calls of one trial on a background thread, in the order they were made.

    Use as a context manager: leaving it waits for the reports still being written (without raising
    their errors when another exception is leaving already) and ends the thread.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admet-hpo-report")
        self._unwaited: list[Future[None]] = []

    def report(self, value: float, step: int) -> None:
        """Write ``value`` as the trial's intermediate value at ``step`` after the reports before it."""
        self._unwaited.append(self._thread.submit(self.trial.report, value, step))

    def wait(self) -> None:
        """Return once every report made so far is written; raise the first error one of them met."""
        unwaited, self._unwaited = self._unwaited, []
        errors = [error for error in (future.exception() for future in unwaited) if error is not None]
        if errors:
            raise errors[0]

    def __enter__(self) -> BackgroundReports:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.shutdown(wait=True)
        if exc_type is None:
            self.wait()
