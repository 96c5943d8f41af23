"""Cron expressions with crontab's meaning, and the blocking schedule that runs one night at a time."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from admet_hpo.errors import ConfigError
from admet_hpo.orchestration.scheduling import cron_trigger, cron_weekdays, run_schedule


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("0,6", "sat,sun"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "tue,thu,sat,sun"),
        ("1/3", "mon,thu"),
        ("SUN,wed", "wed,sun"),
        ("mon-fri/2", "mon,wed,fri"),
    ],
)
def test_weekdays_are_translated_with_crontab_numbering(field: str, expected: str) -> None:
    assert cron_weekdays(field) == expected


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("8", "neither 0-7 nor a day name"),
        ("funday", "neither 0-7 nor a day name"),
        ("5-1", "runs backwards"),
        ("*/0", "positive number"),
        ("*/x", "positive number"),
    ],
)
def test_bad_weekday_fields_are_rejected(field: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron_weekdays(field)


def test_weekday_one_is_monday_as_in_cron_not_tuesday_as_in_apscheduler() -> None:
    trigger = cron_trigger("0 2 * * 1", "Europe/Berlin")
    thursday = datetime(2026, 1, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    fire = trigger.get_next_fire_time(None, thursday)
    assert fire == datetime(2026, 1, 5, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert fire.strftime("%A") == "Monday"


def test_five_fields_fire_on_the_minute_in_the_time_zone() -> None:
    trigger = cron_trigger("30 1 * * *", "America/New_York")
    start = datetime(2026, 7, 1, 0, 0, tzinfo=ZoneInfo("UTC"))
    fire = trigger.get_next_fire_time(None, start)
    assert (fire.hour, fire.minute, fire.second) == (1, 30, 0)
    assert fire.utcoffset() == timedelta(hours=-4)


def test_six_fields_put_seconds_first() -> None:
    trigger = cron_trigger("*/5 * * * * *", "UTC")
    start = datetime(2026, 1, 1, 0, 0, 1, tzinfo=ZoneInfo("UTC"))
    assert trigger.get_next_fire_time(None, start) == start.replace(second=5)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "expected 5 fields .* got 4"),
        ("0 0 2 * * * *", "got 7"),
        ("0 25 * * *", r"cron expression '0 25 \* \* \*': .*maximum value \(23\)"),
        ("0 2 * * 9", "neither 0-7"),
    ],
)
def test_invalid_cron_expressions_name_the_expression(expression: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cron_trigger(expression, "UTC")


def test_schedule_runs_the_job_with_the_local_date_and_stops_after_max_runs() -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: its date differs from UTC's for 14 hours of every day
    nights: list[date] = []
    upcoming: list[datetime] = []
    first_day = datetime.now(ZoneInfo(zone)).date()
    started = time.monotonic()
    runs = run_schedule(
        cron_trigger("* * * * * *", zone), zone, nights.append, max_runs=2, on_next=upcoming.append
    )
    assert runs == 2
    assert time.monotonic() - started < 10
    last_day = datetime.now(ZoneInfo(zone)).date()
    assert len(nights) == 2 and all(first_day <= night <= last_day for night in nights)
    assert len(upcoming) == 2  # at start and after the first night; not after the last
    assert all(moment.tzinfo is not None for moment in upcoming)


def test_a_failing_night_does_not_stop_the_schedule() -> None:
    calls: list[date] = []

    def night(day: date) -> None:
        calls.append(day)
        if len(calls) == 1:
            raise RuntimeError("storage unreachable")

    assert run_schedule(cron_trigger("* * * * * *", "UTC"), "UTC", night, max_runs=2) == 2
    assert len(calls) == 2


def test_an_interrupted_night_stops_the_schedule_and_is_re_raised() -> None:
    calls: list[date] = []

    def night(day: date) -> None:
        calls.append(day)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_schedule(cron_trigger("* * * * * *", "UTC"), "UTC", night, max_runs=5)
    assert len(calls) == 1


def test_nights_run_one_at_a_time() -> None:
    spans: list[tuple[float, float]] = []

    def slow_night(day: date) -> None:
        begin = time.monotonic()
        time.sleep(1.5)  # longer than the one-second schedule
        spans.append((begin, time.monotonic()))

    run_schedule(cron_trigger("* * * * * *", "UTC"), "UTC", slow_night, max_runs=2)
    (_, first_end), (second_begin, _) = spans
    assert second_begin >= first_end
