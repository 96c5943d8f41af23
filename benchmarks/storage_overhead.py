"""Per-trial storage and tracking overhead of a study, and the wall time of a tiny study with 1 vs 2 workers.

``overhead`` (a few seconds per back end): trials whose objective does everything a worker does with the
study storage except training, through the product's own storage (``open_storage``: retries, heartbeats
on, every 60 s) and exact-budget admission (``BudgetGate`` with the study lock), on a SQLite file and on
the local PostgreSQL server. Per trial: Optuna's stale-trial check, the admission, ``ask`` (with the
heartbeat thread start), sampling two parameters, three user attributes (worker, output folder, MLflow
run id), per epoch ``report`` + the ``epochs_run`` attribute + ``should_prune`` (median pruner), the
dashboard note, and ``tell``. Tracking: the MLflow calls the objective makes for a trial (child run,
resolved config, lineage tags, per-epoch metrics, a 200 kB checkpoint artifact, finish) plus the stale-run
check the runner makes after each trial, on a SQLite MLflow store and on a PostgreSQL one.

``workers``: ``hpo run STUDY --workers K`` on a fixed study (demo data, 8 trials, 5 epochs, hidden 64,
random sampler, no pruning) with a PostgreSQL storage, K = 1 and 2, with torch's default threads and with
one thread per worker (``OMP_NUM_THREADS``); wall time from the command's start to its exit, after a
one-trial warm-up run that builds the demo data and fills the feature cache.

Run from the repository root (PostgreSQL at 127.0.0.1:5432 as ``postgres``; databases are created and
dropped)::

    /work/venv/bin/python benchmarks/storage_overhead.py overhead
    /work/venv/bin/python benchmarks/storage_overhead.py workers [--configs 1x1,2x1 --repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

from admet_hpo.config.study import HeartbeatConfig
from admet_hpo.storage.budget import BudgetGate
from admet_hpo.storage.rdb import open_storage, study_lock

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
TASKS = ("logD", "solubility", "clearance", "permeability", "toxicity")


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database on the local server (dropped afterwards); its name."""
    import psycopg

    name = f"admet_hpo_bench_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def median_ms(values: list[float]) -> float:
    return 1000.0 * statistics.median(values)


# ---------------------------------------------------------------------------------------------- storage


@dataclass
class StorageTimes:
    backend: str
    per_trial: list[float]  # one whole trial cycle (callback to callback)
    outside: list[float]  # the cycle outside the objective: stale check, admission, ask, tell, callbacks
    setup: list[float]  # sampling + user attributes + note, inside the objective
    report: list[float]  # per epoch
    attribute: list[float]  # per epoch
    should_prune: list[float]  # per epoch


def storage_overhead(backend: str, url: str, trials: int, epochs: int) -> StorageTimes:
    """Run ``trials`` no-training trials of ``epochs`` epochs through the product's storage and gate."""
    from admet_hpo.tracking.notes import save_trial_note

    storage = open_storage(url, HeartbeatConfig(interval=60))
    study = optuna.create_study(
        study_name="bench",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=trials + 1),  # reads trials, never prunes
    )
    gate = BudgetGate(study, study_lock(storage, storage.get_study_id_from_name("bench")), trials)
    times = StorageTimes(backend, [], [], [], [], [], [])
    last = [time.perf_counter()]
    inside = [0.0]

    def objective(trial: optuna.Trial) -> float:
        gate.started()
        entered = start = time.perf_counter()
        trial.suggest_float("max_lr", 1e-4, 5e-3, log=True)
        trial.suggest_float("alpha", 0.0, 1.0)
        for key, value in (("worker", "host:1"), ("output_dir", "/runs/x"), ("mlflow_run_id", "0" * 32)):
            trial.set_user_attr(key, value)
        save_trial_note(trial.study, trial._trial_id, "trial note with a link")
        times.setup.append(time.perf_counter() - start)
        for epoch in range(epochs):
            start = time.perf_counter()
            trial.report(1.0 / (epoch + 1), epoch)
            reported = time.perf_counter()
            trial.set_user_attr("epochs_run", epoch + 1)
            attributed = time.perf_counter()
            trial.should_prune()
            times.report.append(reported - start)
            times.attribute.append(attributed - reported)
            times.should_prune.append(time.perf_counter() - attributed)
        inside[0] = time.perf_counter() - entered
        return 0.5

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        now = time.perf_counter()
        times.per_trial.append(now - last[0])
        times.outside.append(now - last[0] - inside[0])
        last[0] = now
        gate(study, trial)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if gate.admit():
            last[0] = time.perf_counter()
            study.optimize(objective, callbacks=[after_trial])
    finally:
        gate.release()
        storage.engine.dispose()
    return times


# --------------------------------------------------------------------------------------------- tracking


@dataclass
class TrackingTimes:
    backend: str
    per_trial: list[float]
    per_epoch: list[float]


def epoch_metrics(epoch: int) -> dict[str, float]:
    """About as many metrics as a real epoch logs: losses, per-task scores, sampler statistics."""
    metrics = {"train_loss": 1.0 / (epoch + 1), "val_loss": 1.1 / (epoch + 1), "curriculum_phase": 0.0}
    metrics |= {f"val/{task}/{name}": 0.5 for task in TASKS for name in ("rmse", "mae", "r2")}
    metrics |= {
        f"sampler/{name}": 0.1 for name in ("min", "max", "entropy", "entropy_norm", "ess", "ess_frac")
    }
    metrics |= {f"sampler/task_share/{task}": 0.2 for task in TASKS}
    return metrics


def tracking_overhead(
    backend: str, tracking_uri: str, trials: int, epochs: int, workdir: Path
) -> TrackingTimes:
    """MLflow calls of ``trials`` trials (see the module docstring) on ``tracking_uri``."""
    from optuna.trial import TrialState

    from admet_hpo.tracking.store import ensure_tracking_store
    from admet_hpo.tracking.tracker import StudyTracker

    ensure_tracking_store(tracking_uri)
    study = optuna.create_study(study_name=f"track-{backend}", storage=f"sqlite:///{workdir / 'track.db'}")
    tracker = StudyTracker(tracking_uri, artifact_root=str(workdir / f"artifacts-{backend}"))
    tracker.start_study(study)
    checkpoint = workdir / "best.ckpt"
    checkpoint.write_bytes(os.urandom(200_000))
    config = {"model": {"depth": 2, "message_hidden_dim": 64}, "optim": {"max_lr": 1e-3}, "data": {"x": 1}}
    times = TrackingTimes(backend, [], [])
    for _ in range(trials):
        trial = study.ask()
        trial.suggest_float("alpha", 0.0, 1.0)
        start = time.perf_counter()
        run_id = tracker.start_trial(trial)
        tracker.log_config(run_id, config)
        tracker.log_lineage(run_id, "d" * 64, "s" * 64)
        for epoch in range(epochs):
            epoch_start = time.perf_counter()
            tracker.log_epoch_metrics(run_id, epoch_metrics(epoch), step=epoch)
            times.per_epoch.append(time.perf_counter() - epoch_start)
        tracker.log_final_metrics(run_id, {"best_val_loss": 0.5})
        tracker.log_checkpoint(run_id, checkpoint)
        tracker.finish_trial(run_id, TrialState.COMPLETE, value=0.5)
        tracker.run_link(run_id)
        tracker.close_stale_runs(study)
        times.per_trial.append(time.perf_counter() - start)
        study.tell(trial, 0.5)
    return times


def overhead(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder, pg_database() as optuna_db, pg_database() as mlflow_db:
        workdir = Path(folder)
        storage = [
            storage_overhead("SQLite", f"sqlite:///{workdir / 'optuna.db'}", args.trials, args.epochs),
            storage_overhead("PostgreSQL", f"{PG}/{optuna_db}", args.trials, args.epochs),
        ]
        tracking = [
            tracking_overhead(
                "SQLite", f"sqlite:///{workdir / 'mlflow.db'}", args.trials, args.epochs, workdir
            ),
            tracking_overhead("PostgreSQL", f"{PG}/{mlflow_db}", args.trials, args.epochs, workdir),
        ]
    print(f"\n{args.trials} trials x {args.epochs} epochs; medians in ms\n")
    print(
        "| back end | Optuna storage per trial | outside the objective (admission, ask, tell) | sampling +"
        " attributes + note | per epoch: report | per epoch: attribute | per epoch: should_prune |"
        " MLflow tracking per trial | of which per epoch |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for optuna_times, mlflow_times in zip(storage, tracking, strict=True):
        cells = [
            median_ms(values)
            for values in (
                optuna_times.per_trial,
                optuna_times.outside,
                optuna_times.setup,
                optuna_times.report,
                optuna_times.attribute,
                optuna_times.should_prune,
                mlflow_times.per_trial,
                mlflow_times.per_epoch,
            )
        ]
        print(f"| {optuna_times.backend} | " + " | ".join(f"{cell:.1f}" for cell in cells) + " |")


# ---------------------------------------------------------------------------------------------- workers


def write_study(folder: Path, storage: str, trials: int, epochs: int, hidden: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "max_lr": {
                        "path": "optim.max_lr",
                        "type": "float",
                        "low": 1e-4,
                        "high": 5e-3,
                        "log": True,
                    },
                    "alpha": {
                        "path": "sampling.task_oversampling.alpha",
                        "type": "float",
                        "low": 0.0,
                        "high": 1.0,
                    },
                }
            }
        )
    )
    study = {
        "name": "bench-workers",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": hidden, "depth": 2, "ffn_hidden_dim": hidden},
            "optim": {"warmup_epochs": 1, "init_lr": 1e-5},
            "trainer": {"max_epochs": epochs, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "n_trials": trials,
        "storage": storage,
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def timed_run(study_file: Path, workers: int, threads: int | None, cache: Path) -> tuple[float, int]:
    """Wall seconds of ``hpo run --workers`` and the command's exit code."""
    env = {**os.environ, "ADMET_HPO_CACHE": str(cache)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "admet_hpo", "run", str(study_file), "--workers", str(workers), "-q"],
        env=env,
        capture_output=True,
        timeout=1800,
        check=False,
    )
    return time.perf_counter() - start, done.returncode


def trial_seconds(storage: str) -> float:
    """Median seconds of a trial (start to finish as stored)."""
    summaries = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summaries[0].study_name, storage=storage).trials
    return statistics.median((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)


def parse_configurations(text: str) -> list[tuple[int, int | None]]:
    """``"1xd,2x1"`` -> ``[(1, None), (2, 1)]``: workers x torch threads per worker (``d`` = default)."""
    configurations = []
    for item in text.split(","):
        count, threads = item.strip().split("x")
        configurations.append((int(count), None if threads == "d" else int(threads)))
    return configurations


def workers(args: argparse.Namespace) -> None:
    configurations = parse_configurations(args.configs) * args.repeat
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache"
        with pg_database() as database:  # one trial first: builds the demo data, fills the feature cache
            warm_up = write_study(Path(folder) / "warm-up", f"{PG}/{database}", 1, 1, args.hidden)
            timed_run(warm_up, 1, None, cache)
        for index, (count, threads) in enumerate(configurations):
            with pg_database() as database:
                url = f"{PG}/{database}"
                study_file = write_study(
                    Path(folder) / f"run{index}", url, args.trials, args.epochs, args.hidden
                )
                load = os.getloadavg()[0]
                seconds, code = timed_run(study_file, count, threads, cache)
                if code != 0:
                    raise SystemExit(f"hpo run --workers {count} exited with {code}")
                rows.append((count, threads, seconds, trial_seconds(url), load))
    print(f"\n{args.trials} trials x {args.epochs} epochs, hidden {args.hidden}, demo data, PostgreSQL\n")
    print("| workers | torch threads per worker | wall time | median trial | load average at start |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for count, threads, seconds, trial, load in rows:
        print(f"| {count} | {threads or 'default (2)'} | {seconds:.0f} s | {trial:.1f} s | {load:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    over = commands.add_parser("overhead", help="per-trial storage and tracking overhead")
    over.add_argument("--trials", type=int, default=30)
    over.add_argument("--epochs", type=int, default=20)
    work = commands.add_parser("workers", help="wall time of a tiny study with 1 vs 2 workers")
    work.add_argument("--trials", type=int, default=8)
    work.add_argument("--epochs", type=int, default=5)
    work.add_argument("--hidden", type=int, default=64)
    work.add_argument(
        "--configs", default="1xd,2xd,1x1,2x1", help="workers x threads per worker (d: torch's default)"
    )
    work.add_argument("--repeat", type=int, default=1, help="run the configurations this many times")
    args = parser.parse_args()
    (overhead if args.command == "overhead" else workers)(args)


if __name__ == "__main__":
    main()
