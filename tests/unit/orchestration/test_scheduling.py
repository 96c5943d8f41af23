"""The blocking schedule that runs one night at a time."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from admet_hpo.config.cron import cron_trigger
from admet_hpo.orchestration.scheduling import run_schedule


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
