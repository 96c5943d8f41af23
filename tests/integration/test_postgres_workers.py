"""Many workers on one PostgreSQL study: an exact trial budget, one MLflow run per trial, connections lost
mid-study, passwords never shown. Real ``hpo`` processes, real PostgreSQL (a database per test)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import optuna
import pytest
from optuna.trial import TrialState
from worker_support import (
    PostgresDatabase,
    load_trials,
    mlflow_trial_runs,
    postgres_database,
    postgres_role,
    running,
    start_hpo,
    wait_until,
    write_study,
)

from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.storage.budget import BudgetGate
from admet_hpo.storage.rdb import (
    APPLICATION_NAME,
    PostgresStudyLock,
    RetryPolicy,
    open_storage,
    study_lock,
)
from admet_hpo.tracking.keys import SURPLUS_ATTR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

SECRET = "Sw0rdf1sh-Not-For-Logs"
BUDGET = 6
WORKERS = 3
OUTAGE_S = 3.0


@dataclass
class WorkersRun:
    """``hpo run --workers 3`` on a PostgreSQL study whose connections were cut while trials ran."""

    storage: str
    tracking_uri: str
    study_name: str
    exit_code: int
    output: str
    terminated: int  # worker connections terminated by the test
    trials: list[optuna.trial.FrozenTrial]


@pytest.fixture(scope="module")
def workers_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkersRun]:
    folder = tmp_path_factory.mktemp("pg-workers")
    with (
        postgres_database() as study_db,
        postgres_database("admet_hpo_mlflow") as mlflow_db,
        postgres_role([study_db, mlflow_db], SECRET) as role,
    ):
        storage, tracking_uri = study_db.url(role, SECRET), mlflow_db.url(role, SECRET)
        study_file = write_study(
            folder,
            n_trials=BUDGET,
            storage=storage,
            tracking_uri=tracking_uri,
            heartbeat={"interval": 1, "grace_period": 30},
        )
        study_name = versioned_study_name(load_study(study_file))
        with running(
            [start_hpo(folder / "logs", "run", "run", str(study_file), "--workers", str(WORKERS))]
        ) as (run,):
            wait_until(
                lambda: run.process.poll() is not None or _completed(storage, study_name) >= 1,
                240,
                "a first completed trial",
                interval=1.0,
            )
            terminated = _cut_connections(study_db)
            exit_code = run.wait()
        yield WorkersRun(
            storage=storage,
            tracking_uri=tracking_uri,
            study_name=study_name,
            exit_code=exit_code,
            output=run.output(),
            terminated=terminated,
            trials=load_trials(storage, study_name),
        )


def _completed(storage: str, study_name: str) -> int:
    try:
        return sum(t.state == TrialState.COMPLETE for t in load_trials(storage, study_name))
    except (KeyError, optuna.exceptions.StorageInternalError):  # the study is being created
        return 0


def _cut_connections(database: PostgresDatabase) -> int:
    """Terminate the workers' connections three times, then refuse connections for a few seconds as a
    restarting server would; return how many connections were terminated."""
    terminated = 0
    for _ in range(3):
        terminated += database.terminate_connections(APPLICATION_NAME)
        time.sleep(0.7)
    database.allow_connections(False)
    try:
        terminated += database.terminate_connections(APPLICATION_NAME)
        time.sleep(OUTAGE_S)
    finally:
        database.allow_connections(True)
    return terminated


def _trained(workers_run: WorkersRun) -> list[optuna.trial.FrozenTrial]:
    """The trials that were trained: all but those failed as surplus, admitted while a worker's study lock
    was cut (see admet_hpo.storage.budget)."""
    return [t for t in workers_run.trials if not t.user_attrs.get(SURPLUS_ATTR)]


def test_three_workers_finish_exactly_the_budget(workers_run: WorkersRun) -> None:
    assert workers_run.exit_code == 0, workers_run.output
    states = Counter(t.state for t in workers_run.trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == BUDGET, states
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0
    numbers = [t.number for t in workers_run.trials]
    assert len(numbers) == len(set(numbers))
    workers = {t.user_attrs["worker"] for t in workers_run.trials}
    assert len(workers) >= 2, f"the trials ran in one worker only: {workers}"


def test_every_trial_is_linked_to_exactly_one_mlflow_run(workers_run: WorkersRun) -> None:
    runs = {
        run.info.run_id: run for run in mlflow_trial_runs(workers_run.tracking_uri, workers_run.study_name)
    }
    trained = _trained(workers_run)
    linked = [t.user_attrs["mlflow_run_id"] for t in trained]
    assert len(linked) == len(set(linked)) == len(runs) == len(trained)
    status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
    for trial in trained:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.info.status == status[trial.state]


def test_lost_connections_are_retried_and_no_trial_is_lost_or_duplicated(workers_run: WorkersRun) -> None:
    assert workers_run.terminated > 0, "the test cut no worker connection"
    assert "retrying in" in workers_run.output, "no storage call had to be retried"
    # The outage was shorter than the heartbeat grace period: every trial in flight went on and finished.
    assert [t.number for t in _trained(workers_run) if t.state == TrialState.FAIL] == []
    assert sorted(t.number for t in workers_run.trials) == list(range(len(workers_run.trials)))


def test_credentials_are_masked_in_everything_printed(workers_run: WorkersRun) -> None:
    assert SECRET not in workers_run.output
    assert ":***@127.0.0.1" in workers_run.output  # the storage (and tracking) URL is printed masked


# ------------------------------------------------------------------------- the study lock, without training


def _gated_worker(url: str, budget: int, seed: int) -> None:
    """A worker whose trials take a few milliseconds and fail one time in three."""
    import random

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(seed))
    gate = BudgetGate(
        study, study_lock(storage, storage.get_study_id_from_name("s")), budget, poll_seconds=0.02
    )
    rng = random.Random(seed)

    def objective(trial: optuna.Trial) -> float:
        gate.started()
        time.sleep(rng.uniform(0.0, 0.02))
        if rng.random() < 1 / 3:
            raise RuntimeError("a failing trial")
        return trial.suggest_float("x", 0.0, 1.0)

    try:
        if gate.admit():
            study.optimize(objective, catch=(Exception,), callbacks=[gate])
    finally:
        gate.release()


def test_four_processes_share_a_budget_exactly_through_the_advisory_lock() -> None:
    with postgres_database() as database:
        url = database.url()
        optuna.create_study(study_name="s", storage=open_storage(url))
        budget = 16
        context = multiprocessing.get_context("fork")
        processes = [context.Process(target=_gated_worker, args=(url, budget, seed)) for seed in range(4)]
        for process in processes:
            process.start()
        try:
            for process in processes:
                process.join(90)
                assert process.exitcode == 0
        finally:
            for process in processes:
                process.kill()
        trials = load_trials(url, "s")
        states = Counter(t.state for t in trials)
        assert states[TrialState.COMPLETE] == budget and states[TrialState.FAIL] > 0
        assert states[TrialState.RUNNING] == 0


def test_the_advisory_lock_excludes_workers_of_the_same_study_only() -> None:
    with postgres_database() as database:
        storage = open_storage(database.url())
        first = study_lock(storage, 1)
        second, other_study = study_lock(storage, 1), study_lock(storage, 2)
        assert isinstance(first, PostgresStudyLock)
        first.acquire()
        other_study.acquire()  # another study's lock is independent
        acquired = threading.Event()
        waiter = threading.Thread(target=lambda: (second.acquire(), acquired.set()), daemon=True)
        waiter.start()
        assert not acquired.wait(0.5)
        first.release()
        assert acquired.wait(10)
        waiter.join(5)
        # A holder whose connection is cut loses the lock with it, knows it, and never leaves it behind.
        assert second.intact() and not first.intact()
        database.terminate_connections(APPLICATION_NAME)
        assert not second.intact()
        second.release()
        fresh = PostgresStudyLock(storage.engine, 1, RetryPolicy(deadline=10))
        fresh.acquire()
        fresh.release()
        other_study.release()
        storage.engine.dispose()
