"""BackgroundReports: a trial's reports reach the storage in order, and wait() makes them all stored."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.search.reporting import BackgroundReports
from admet_hpo.storage.rdb import open_storage


class SlowTrial:
    """Records the reports it gets, each after a short delay, and on which thread; fails at ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.reported: list[tuple[int, float]] = []
        self.threads: set[int] = set()
        self.fail_at = fail_at

    def report(self, value: float, step: int) -> None:
        time.sleep(0.002)
        self.threads.add(threading.get_ident())
        if step == self.fail_at:
            raise RuntimeError(f"storage refused step {step}")
        self.reported.append((step, value))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=12))
def test_reports_are_written_in_order_on_one_other_thread(values: list[float]) -> None:
    trial = SlowTrial()
    with BackgroundReports(trial) as reports:  # type: ignore[arg-type]
        for step, value in enumerate(values):
            reports.report(value, step)
    assert trial.reported == list(enumerate(values))
    assert threading.get_ident() not in trial.threads and len(trial.threads) <= 1


def test_wait_returns_once_every_report_so_far_is_written() -> None:
    trial = SlowTrial()
    with BackgroundReports(trial) as reports:  # type: ignore[arg-type]
        for step in range(5):
            reports.report(0.1 * step, step)
        reports.wait()
        assert [step for step, _ in trial.reported] == [0, 1, 2, 3, 4]


def test_a_failed_report_raises_at_the_next_wait_and_later_reports_still_run() -> None:
    trial = SlowTrial(fail_at=1)
    reports = BackgroundReports(trial)  # type: ignore[arg-type]
    for step in range(3):
        reports.report(1.0, step)
    with pytest.raises(RuntimeError, match="refused step 1"):
        reports.wait()
    reports.wait()  # the error was raised once
    assert [step for step, _ in trial.reported] == [0, 2]
    with pytest.raises(RuntimeError, match="refused step 1"), reports:
        reports.report(1.0, 1)  # leaving the block raises the error of a report not waited for


def test_leaving_on_an_exception_keeps_that_exception() -> None:
    trial = SlowTrial(fail_at=0)
    with pytest.raises(optuna.TrialPruned), BackgroundReports(trial) as reports:  # type: ignore[arg-type]
        reports.report(1.0, 0)
        raise optuna.TrialPruned("pruned")


def test_real_trial_values_are_in_the_storage_where_the_pruner_reads_them(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    with BackgroundReports(trial) as reports:
        for step in range(4):
            reports.report(1.0 / (step + 1), step)
        reports.wait()
        stored = storage.get_trial(trial._trial_id).intermediate_values
        assert stored == {0: 1.0, 1: 0.5, 2: 1 / 3, 3: 0.25}
    study.tell(trial, 0.25)
    assert study.trials[0].intermediate_values == stored
