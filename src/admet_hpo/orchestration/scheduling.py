"""Nightly sweeps on a cron schedule (``hpo schedule``), with APScheduler 3.

:func:`cron_trigger` reads a crontab expression with crontab's meaning: APScheduler 3 counts weekdays
from Monday = 0 while cron counts from Sunday = 0, so the weekday field is translated to day names.
Five fields are ``minute hour day month weekday``; six fields put ``second`` first (for tests and
demonstrations that must fire within seconds). Unlike cron, a schedule restricting both the day of the
month and the weekday fires when *both* match.

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

from admet_hpo.errors import ConfigError
from admet_hpo.orchestration.nightly import night_of

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

#: Seconds a firing may be late (the previous night still running) and still run.
MISFIRE_GRACE_S = 3600
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = Sunday
_APSCHEDULER_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday_number(token: str) -> int:
    name = token.lower()
    if name in _CRON_WEEKDAYS:
        return _CRON_WEEKDAYS.index(name)
    if name.isdigit() and int(name) <= 7:
        return int(name)
    raise ValueError(f"weekday {token!r} is neither 0-7 nor a day name (sun, mon, ...)")


def cron_weekdays(field: str) -> str:
    """A crontab weekday field (``*``, numbers 0-7 with 0 and 7 = Sunday, names, ranges, lists, steps) as
    an APScheduler ``day_of_week`` expression: ``*`` or a comma list of day names.

    ``1-5`` gives ``mon,tue,wed,thu,fri``; ``0`` and ``7`` give ``sun``; ``*/2`` gives Sunday, Tuesday,
    Thursday and Saturday. Raises ValueError for anything else.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        spec, slash, step_text = part.partition("/")
        step = int(step_text) if slash and step_text.isdigit() else 1
        if slash and (not step_text.isdigit() or step < 1):
            raise ValueError(f"weekday step {part!r} must be a positive number")
        if spec == "*":
            start, end = 0, 6
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = _weekday_number(first), _weekday_number(last)
            if start > end:
                raise ValueError(f"weekday range {spec!r} runs backwards")
        else:
            start = _weekday_number(spec)
            end = 6 if slash else start
        days.update(day % 7 for day in range(start, end + 1, step))
    return ",".join(name for name in _APSCHEDULER_ORDER if _CRON_WEEKDAYS.index(name) in days)


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a 5-field crontab expression (or 6 fields, seconds first) in
    ``timezone``. Raises :class:`ConfigError` naming the expression when it is invalid."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ConfigError(
            f"cron expression {expression!r}: expected 5 fields (minute hour day month weekday) "
            f"or 6 (second first), got {len(fields)}"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=cron_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ConfigError(f"cron expression {expression!r}: {exc}") from None


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
