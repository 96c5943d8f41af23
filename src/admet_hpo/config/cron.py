"""Cron expressions with crontab's meaning, for ``nightly.cron`` and ``hpo schedule --cron`` alike.

APScheduler 3 counts weekdays from Monday = 0 while cron counts from Sunday = 0, so the weekday field is
translated to day names (``0 2 * * 7`` is Sunday at 02:00 here as in crontab). Five fields are
``minute hour day month weekday``; six fields put ``second`` first (for tests and demonstrations that
must fire within seconds; a study file takes five, as Kubernetes CronJobs do). Unlike cron, a schedule
restricting both the day of the month and the weekday fires when *both* match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from admet_hpo.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

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
