"""Nightly sweeps on a cron schedule (``hpo schedule``), with APScheduler 3.

Cron expressions are read by :func:`admet_hpo.config.cron.cron_trigger`, the one parser, which checks
the study file's ``nightly.cron`` too.

:func:`run_schedule` runs one night job at a time in the calling thread (APScheduler's ``DebugExecutor``
under a ``BlockingScheduler``), so Ctrl-C or SIGTERM during a night reach the running trial, which is
failed cleanly, and then stop the scheduler. Firings that fall while a night is still running are
coalesced into one run right after it, unless they are more than :data:`MISFIRE_GRACE_S` late.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from admet_hpo.orchestration.nightly import night_of

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

#: Seconds a firing may be late (the previous night still running) and still run.
MISFIRE_GRACE_S = 3600


def run_schedule(
    trigger: CronTrigger,
    timezone: str,
    night_job: Callable[[date], object],
    *,
    max_runs: int | None = None,
    on_next: Callable[[datetime], None] | None = None,
) -> int:
    """Call ``night_job(<today's date in timezone>)`` at every firing of ``trigger``, one at a time, until
    ``max_runs`` jobs have run (None = forever); return the number of jobs run.

    ``on_next`` is called with the next firing time at start and after every job. A job that raises
    is reported by APScheduler's logger and the schedule goes on; a KeyboardInterrupt (Ctrl-C, or
    SIGTERM turned into one by the caller) stops the schedule and is re-raised, during a job or between.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
    from apscheduler.executors.debug import DebugExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    class JobsOutliveShutdown(MemoryJobStore):
        """The scheduler is shut down from inside a job's completion event, after which it still updates
        the job: a memory store must not drop its jobs at shutdown (its default) for that update."""

        def shutdown(self) -> None:
            pass

    zone = ZoneInfo(timezone)
    scheduler = BlockingScheduler(
        timezone=zone, executors={"default": DebugExecutor()}, jobstores={"default": JobsOutliveShutdown()}
    )
    runs = 0
    interrupted = False

    def announce_next() -> None:
        if on_next is not None:
            upcoming = trigger.get_next_fire_time(None, datetime.now(zone))
            if upcoming is not None:
                on_next(upcoming)

    def after_job(event: JobExecutionEvent) -> None:
        nonlocal runs, interrupted
        runs += 1
        interrupted = isinstance(event.exception, KeyboardInterrupt)
        if interrupted or (max_runs is not None and runs >= max_runs):
            scheduler.shutdown(wait=False)
        else:
            announce_next()

    scheduler.add_job(
        lambda: night_job(night_of(datetime.now(zone), timezone)),
        trigger,
        id="nightly",
        name="nightly sweep",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_S,
    )
    scheduler.add_listener(after_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    announce_next()
    scheduler.start()
    if interrupted:
        raise KeyboardInterrupt
    return runs
