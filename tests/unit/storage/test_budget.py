"""Exact trial budgets: admission under the study lock, waiting for other workers, several processes."""

from __future__ import annotations

import multiprocessing
import random
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from admet_hpo.config.study import HeartbeatConfig
from admet_hpo.storage.budget import BudgetGate
from admet_hpo.storage.rdb import open_storage, study_lock

pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize"),
]


class RecordingLock:
    """A study lock that records acquire/release and whether it is held."""

    def __init__(self) -> None:
        self.held = False
        self.lost = False  # the holder's database session ended (the server released the lock)
        self.events: list[str] = []

    def acquire(self) -> None:
        assert not self.held, "acquired twice"
        self.held, self.lost = True, False
        self.events.append("acquire")

    def intact(self) -> bool:
        return self.held and not self.lost

    def release(self) -> None:
        if self.held:
            self.events.append("release")
        self.held = False


def make_study(tmp_path: Path, states: list[TrialState], heartbeat: HeartbeatConfig | None = None):
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat)
    study = optuna.create_study(study_name="s", storage=storage)
    for state in states:
        trial = study.ask()
        if state != TrialState.RUNNING:
            study.tell(trial, 1.0 if state == TrialState.COMPLETE else None, state=state)
    return study


def gate_for(study: optuna.Study, budget: int, **kwargs) -> BudgetGate:
    lock = kwargs.pop("lock", None) or RecordingLock()
    return BudgetGate(study, lock, budget, **kwargs)


def test_counts_see_other_workers_claims_and_finishes_made_after_an_earlier_count(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.COMPLETE, TrialState.RUNNING])
    gate = gate_for(study, budget=5)
    assert gate.counts() == (1, 1)
    other = optuna.load_study(study_name="s", storage=open_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    other.tell(1, 2.0)  # the running trial finishes in another worker
    other.ask()  # and that worker claims the next slot
    other.tell(other.ask(), state=TrialState.FAIL)  # a failed trial gives its slot back
    assert gate.counts() == (2, 1)


def test_admits_while_claims_leave_room_and_keeps_the_lock_until_the_trial_runs(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL])
    gate = gate_for(study, budget=3)
    assert gate.counts() == (1, 1)
    assert gate.admit() is True
    assert gate.lock.held
    gate.started()
    assert not gate.lock.held and gate.starts == 1


def test_a_trial_admitted_while_the_lock_was_lost_counts_again_and_is_surplus_if_over(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.COMPLETE])
    gate = gate_for(study, budget=2)
    assert gate.admit() is True
    gate.lock.lost = True  # meanwhile another worker was admitted and started a trial
    study.ask()
    study.ask()  # this worker's trial: 1 finished + 2 running claims for a budget of 2
    assert gate.started() is False
    assert gate.lock.events == ["acquire", "release", "acquire", "release"] and not gate.lock.held

    (tmp_path / "room").mkdir()
    study = make_study(tmp_path / "room", [TrialState.COMPLETE])
    gate = gate_for(study, budget=3)
    assert gate.admit() is True
    gate.lock.lost = True
    study.ask()
    study.ask()  # 1 finished + 2 running fit a budget of 3: the lost lock admitted no surplus
    assert gate.started() is True and not gate.lock.held


def test_stops_once_the_budget_is_finished_and_failed_trials_do_not_count(tmp_path: Path) -> None:
    three = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    study = make_study(tmp_path, three)
    gate = gate_for(study, budget=3)
    assert gate.admit() is False
    assert not gate.lock.held and gate.lock.events == ["acquire", "release"]
    assert gate_for(study, budget=4).admit() is True  # the FAIL gave its slot back


def test_a_counted_budget_counts_only_the_selected_trials_as_a_night_does(tmp_path: Path) -> None:
    study = make_study(tmp_path, [])
    for night, finish in (("2026-01-01", True), ("2026-01-02", True), ("2026-01-02", False)):
        trial = study.ask()
        trial.set_user_attr("night", night)
        if finish:
            study.tell(trial, 1.0)
    tonight = gate_for(study, 3, counted=lambda t: t.user_attrs.get("night") == "2026-01-02")
    assert tonight.counts() == (1, 1)
    assert tonight.admit() is True  # the earlier night's trial does not count against tonight's 3
    tonight.release()
    assert gate_for(study, 3).counts() == (2, 1)  # all three claim a slot of an uncounted budget


def test_waits_while_other_workers_hold_the_last_slots_then_stops_when_they_finish(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.COMPLETE, TrialState.RUNNING])
    running = study.trials[1]
    waits: list[float] = []

    def other_worker_finishes(seconds: float) -> None:
        waits.append(seconds)
        study.tell(running.number, 2.0)

    gate = gate_for(study, budget=2, poll_seconds=0.5, sleep=other_worker_finishes)
    assert gate.admit() is False
    assert waits == [0.5]
    assert not gate.lock.held


def test_a_slot_given_back_by_a_failure_is_taken_by_a_waiting_worker(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.COMPLETE, TrialState.RUNNING])
    running = study.trials[1]
    gate = gate_for(study, budget=2, sleep=lambda _: study.tell(running.number, state=TrialState.FAIL))
    assert gate.admit() is True and gate.lock.held


def test_a_dead_workers_trial_is_failed_while_waiting_and_its_retry_is_admitted(tmp_path: Path) -> None:
    heartbeat = HeartbeatConfig(interval=1, grace_period=2, max_retry=1)
    study = make_study(tmp_path, [TrialState.COMPLETE], heartbeat)
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    other_worker = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat)
    other_worker.record_heartbeat(dead._trial_id)  # its last heartbeat; then the worker died
    gate = gate_for(study, budget=2, poll_seconds=2.0, sleep=lambda s: time.sleep(s + 1.1))
    assert gate.admit() is True
    retry = study.ask()
    gate.started()
    assert study.trials[dead.number].state == TrialState.FAIL
    assert retry.number != dead.number and retry.params == dead.params
    assert study.trials[retry.number].system_attrs["failed_trial"] == dead.number


def test_a_worker_stops_after_its_start_limit_and_at_its_deadline(tmp_path: Path) -> None:
    study = make_study(tmp_path, [])
    gate = gate_for(study, budget=5, max_starts=1)
    assert gate.admit() is True
    gate.started()
    assert gate.admit() is False
    clock = iter([0.0, 20.0])
    late = gate_for(study, budget=5, deadline=15.0, clock=lambda: next(clock))
    assert late.admit() is True
    late.started()
    assert late.admit() is False and not late.lock.held


def test_waiting_ends_at_the_deadline(tmp_path: Path) -> None:
    study = make_study(tmp_path, [TrialState.RUNNING])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    gate = gate_for(study, budget=1, deadline=7.0, poll_seconds=5.0, sleep=sleep, clock=lambda: now[0])
    assert gate.admit() is False
    assert now[0] == pytest.approx(7.0)


def _worker(url: str, budget: int, seed: int) -> None:
    """One worker process: trials that take a few milliseconds and fail one time in three."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(seed))
    gate = BudgetGate(
        study,
        study_lock(storage, storage.get_study_id_from_name("s")),
        budget,
        max_starts=4 * budget,
        poll_seconds=0.02,
    )
    rng = random.Random(seed)

    def objective(trial: optuna.Trial) -> float:
        gate.started()
        time.sleep(rng.uniform(0.0, 0.03))
        if rng.random() < 1 / 3:
            raise RuntimeError("a failing trial")
        return trial.suggest_float("x", 0.0, 1.0)

    try:
        if gate.admit():
            study.optimize(objective, catch=(Exception,), callbacks=[gate])
    finally:
        gate.release()


def test_three_processes_finish_exactly_the_budget_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    budget = 12
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(url, budget, seed)) for seed in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    trials = optuna.load_study(study_name="s", storage=url).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == budget
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert TrialState.FAIL in states  # failures gave their slots back and were replaced
