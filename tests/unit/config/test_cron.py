"""Cron expressions with crontab's meaning: one parser for the study file and ``hpo schedule --cron``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from admet_hpo.config.cron import cron_trigger, cron_weekdays
from admet_hpo.config.study import NightlyConfig
from admet_hpo.errors import ConfigError


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


def test_weekday_seven_is_sunday_in_the_study_file_as_with_the_cron_option() -> None:
    nightly = NightlyConfig(cron="0 2 * * 7")
    fire = cron_trigger(nightly.cron, "UTC").get_next_fire_time(
        None, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    )
    assert fire.strftime("%A %H:%M") == "Sunday 02:00"
