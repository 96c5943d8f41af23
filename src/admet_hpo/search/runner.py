"""Create a study once, then run trials in one or several worker processes.

The launching process creates the Optuna study (and the MLflow experiment and parent run) before any
worker starts: concurrent schema creation on a fresh SQLite file or PostgreSQL database crashes. Workers
then join the study by its versioned name and storage URL, from this machine or any other.

``n_trials`` is the study's budget of finished (COMPLETE or PRUNED) trials, so running the same command
again resumes an interrupted study instead of adding a full budget on top. Failed trials do not count
against the budget; a worker starts at most twice its remaining budget, so a study whose every trial
fails still ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from admet_hpo.search.algorithms import build_pruner, build_sampler
from admet_hpo.search.space import space_hash
from admet_hpo.search.storage import open_storage
from admet_hpo.search.versioning import versioned_study_name

if TYPE_CHECKING:
    from admet_hpo.config.study import Study
    from admet_hpo.search.objective import EpochObserver

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class RunSummary:
    """Counts of a study's trials by state after a run, and its best trial (if any completed)."""

    study_name: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_number: int | None
    best_value: float | None


def summarize(optuna_study: optuna.Study) -> RunSummary:
    """Trial counts by state and the best completed trial."""
    trials = optuna_study.get_trials(deepcopy=False)
    count = {state: sum(t.state == state for t in trials) for state in TrialState}
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    best = optuna_study.best_trial if completed else None
    return RunSummary(
        study_name=optuna_study.study_name,
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
        running=count[TrialState.RUNNING],
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
    )


def prepare_study(study: Study, storage_url: str | None = None) -> optuna.Study:
    """Create (or open) the study's Optuna study, MLflow store, experiment and parent run, once.

    The Optuna study is named :func:`versioned_study_name`: a changed search space opens a new version
    instead of crashing on Optuna's changed-distribution error. Study user attributes record the study
    file, the base name and the space hash.
    """
    from admet_hpo.tracking.store import ensure_tracking_store
    from admet_hpo.tracking.tracker import StudyTracker

    url = storage_url or study.storage
    optuna_study = optuna.create_study(
        study_name=versioned_study_name(study),
        storage=open_storage(url, study.heartbeat),
        sampler=build_sampler(study),
        pruner=build_pruner(study),
        direction=study.direction,
        load_if_exists=True,
    )
    for key, value in (("study_file", str(study.source)), ("base_name", study.name)):
        optuna_study.set_user_attr(key, value)
    optuna_study.set_user_attr("space_hash", space_hash(study.space))
    ensure_tracking_store(study.mlflow_tracking_uri)
    StudyTracker(study.mlflow_tracking_uri).start_study(optuna_study, storage_url=url)
    return optuna_study


def load_existing_study(study: Study, storage_url: str | None = None, worker_index: int = 0) -> optuna.Study:
    """The study's Optuna study as created by :func:`prepare_study`, with this worker's sampler."""
    url = storage_url or study.storage
    return optuna.load_study(
        study_name=versioned_study_name(study),
        storage=open_storage(url, study.heartbeat),
        sampler=build_sampler(study, worker_index=worker_index),
        pruner=build_pruner(study),
    )


def remaining_trials(optuna_study: optuna.Study, budget: int | None) -> int | None:
    """How many more finished trials the budget allows (None = no trial budget)."""
    if budget is None:
        return None
    finished = len(optuna_study.get_trials(deepcopy=False, states=FINISHED))
    return max(budget - finished, 0)


def run_worker(
    study: Study,
    *,
    n_trials: int | None,
    timeout: float | None,
    storage_url: str | None = None,
    worker_index: int = 0,
    observer: EpochObserver | None = None,
    callbacks: tuple[TrialCallback, ...] = (),
    trial_attrs: dict[str, object] | None = None,
) -> RunSummary:
    """Run trials of an existing study in this process until the budget or the timeout is spent.

    A trial that raises is recorded FAIL (its error as the ``error`` user attribute) and the study goes
    on. Ctrl-C marks the running trial FAIL, closes its MLflow run as FAILED and re-raises.
    ``trial_attrs`` become user attributes of every trial this worker runs.
    """
    from optuna.study import MaxTrialsCallback

    from admet_hpo.data.training_data import load_training_data
    from admet_hpo.search.objective import TrialObjective
    from admet_hpo.tracking.tracker import StudyTracker

    optuna_study = load_existing_study(study, storage_url, worker_index)
    remaining = remaining_trials(optuna_study, n_trials)
    if remaining == 0:
        return summarize(optuna_study)
    tracker = StudyTracker(study.mlflow_tracking_uri)
    tracker.start_study(optuna_study)
    data = load_training_data(study.base_training)
    objective = TrialObjective(study, tracker, data, observer, trial_attrs)
    budget_callbacks: list[TrialCallback] = list(callbacks)
    if n_trials is not None:
        budget_callbacks.append(MaxTrialsCallback(n_trials, states=FINISHED))
    optuna_study.optimize(
        objective,
        n_trials=None if remaining is None else 2 * remaining,
        timeout=timeout,
        catch=(Exception,),
        callbacks=budget_callbacks,
        gc_after_trial=True,
    )
    tracker.log_study_plots(tracker.parent_run_id, optuna_study)
    return summarize(optuna_study)


def worker_command(study_file: Path, *, n_trials: int | None, timeout: float | None, index: int) -> list[str]:
    """The ``hpo worker`` command line a launcher starts for worker ``index``."""
    command = [
        sys.executable,
        "-m",
        "admet_hpo",
        "worker",
        str(study_file),
        "--worker-index",
        str(index),
        "-q",
    ]
    if n_trials is not None:
        command += ["--n-trials", str(n_trials)]
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    return command


def launch_workers(
    study: Study,
    workers: int,
    *,
    n_trials: int | None,
    timeout: float | None,
    storage_url: str | None,
    poll: Callable[[], None] | None = None,
    poll_seconds: float = 2.0,
) -> list[int]:
    """Start ``workers`` ``hpo worker`` processes on this machine, wait for them, return exit codes.

    ``poll`` is called every ``poll_seconds`` while they run (the live display reads the storage).
    Ctrl-C is passed on to the workers, which fail their running trial cleanly.
    """
    env = dict(os.environ)
    if storage_url is not None:
        env["ADMET_HPO_STORAGE"] = storage_url
    processes = [
        subprocess.Popen(worker_command(study.source, n_trials=n_trials, timeout=timeout, index=i), env=env)
        for i in range(workers)
    ]
    try:
        while any(p.poll() is None for p in processes):
            if poll is not None:
                poll()
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        for process in processes:
            process.send_signal(2)
        for process in processes:
            process.wait(timeout=120)
        raise
    return [p.returncode for p in processes]
