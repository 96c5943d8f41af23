"""Search efficiency (issue 10): what a study spends besides useful training, measured side by side.

1. **Per-epoch parity**: ``hpo train`` vs ``chemprop train`` on the same table (the Biogen ADME set,
   six endpoints, a seeded random split frozen into a split column both tools read), the same model
   (chemprop's default MPNN: hidden 300, depth 3, FFN 300, batch 64, warm-up 2 epochs) and threads;
   whole-process wall times at two epoch counts, alternating the tools, each the fastest of two runs,
   so start-up cancels out: per-epoch time = (t(long) - t(short)) / (long - short).
2. **Service overhead**: real trials of the product's runner (``run_worker``: budget gate, stale checks,
   sampling, MLflow run, epoch reports, pruning, note, tell) on the demo data with a tiny model, on a
   SQLite file and on the local PostgreSQL server (MLflow store on the same back end). Training time is
   measured inside ``admet_hpo.training.run.train`` (wrapped here); what the service adds per epoch is
   the time spent in the epoch listeners (the objective's report / prune / metrics), what it adds per
   trial is the rest of a trial's wall time (callback to callback) outside ``train``. The epochs' values
   are written on the objective's reporting thread: the per-epoch wall time is what the training thread
   waits (at the pruner's rungs), the per-epoch CPU time adds that thread's ``trial.report`` calls.
   Beside it, plain Optuna on the same storage kind with the same sampler, pruner and parameters
   (ask, suggest, report and ``should_prune`` every epoch, tell; a training stand-in): what the search
   costs without the product. Each row is the fastest of two rounds.
3. **Pruning**: one seeded study (the parity table, the shipped ``model_small.yaml`` space, or
   ``model.yaml`` at ``--scale large``; random sampler, seed 0, so that every study samples the same
   trials; no early stopping) run by ``hpo run`` with pruner
   ``none``, ``hyperband`` and ``successive_halving`` (resources derived from the epochs, the product's
   defaults): epochs trained, wall time and best value.

4. **Workers**: the same real-size study (the parity table and model; random sampler, seed 0, no
   pruner, a fixed number of trials and epochs) run by ``hpo run --workers 1`` (all cores as torch
   threads, then one thread) and ``--workers 2`` (one thread each) as whole processes on fresh SQLite
   storage: wall time, trials per hour, and each worker's time from the launch
   to its first trial (imports, session, data, sampling: what a worker pays before its trial trains),
   beside the time a fresh process takes to import what the workers' fork server preloads.
5. **Shipped study**: ``studies/biogen_adme.yaml`` itself (multi-source table, full joint sampler, TPE,
   Hyperband) run for a fixed number of trials with its epochs capped by ``--set``, one worker: trials
   and epochs per hour.

Run from the repository root (PostgreSQL at 127.0.0.1:5432 as ``postgres``; databases are created and
dropped; the Biogen file is read from ``--data-dir``, never downloaded)::

    python benchmarks/search_efficiency.py --data-dir ../shared/data [--scale tiny|default|large]
        [--only parity|overhead|pruning|workers|shipped]

Writes ``search_efficiency.md`` and ``search_efficiency_record.json`` to ``--results-dir`` and, for the
default results folder, replaces the ``search-efficiency`` block of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench_report import Clock, fmt, markdown_table, replace_block
from storage_overhead import PG, pg_database

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
BIOGEN_FILE = "ADME_public_set_3521.csv"
SECTIONS = ("parity", "overhead", "pruning", "workers", "shipped")
SHIPPED_STUDY = BENCH_DIR.parent / "studies" / "biogen_adme.yaml"


@dataclass(frozen=True)
class Scale:
    """The sizes of one run (``default`` fits in about 20 minutes on a 2-core machine). Parity epoch
    counts exceed the warm-up (2 epochs): both tools refuse fewer."""

    parity_epochs: tuple[int, int]
    overhead_trials: int
    overhead_epochs: int
    pruning_trials: int
    pruning_epochs: int
    workers_trials: int
    workers_epochs: int
    shipped_trials: int
    shipped_epochs: int
    #: The shipped search space of the pruning study (``search_spaces/``).
    pruning_space: str = "model_small.yaml"


SCALES = {
    "tiny": Scale((3, 4), 3, 3, 3, 3, 2, 3, 1, 3),
    "default": Scale((3, 10), 10, 10, 12, 15, 4, 3, 1, 3),
    "large": Scale((3, 15), 30, 20, 40, 30, 8, 10, 10, 40, pruning_space="model.yaml"),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"folder holding {BIOGEN_FILE}")
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/benchmarks/cache"), help="product cache")
    parser.add_argument("--work-dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the parity runs")
    return parser.parse_args(argv)


def write_yaml(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


# --- 1. per-epoch parity with chemprop train ---------------------------------------------------------

BIOGEN_TARGETS = (
    "LOG HLM_CLint (mL/min/kg)",
    "LOG MDR1-MDCK ER (B-A/A-B)",
    "LOG SOLUBILITY PH 6.8 (ug/mL)",
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)",
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)",
    "LOG RLM_CLint (mL/min/kg)",
)


def parity_table(data_dir: Path, work_dir: Path) -> Path:
    """The Biogen file's SMILES and six endpoints with a seeded 80/10/10 random split column."""
    import numpy as np
    import pandas as pd

    source = data_dir / BIOGEN_FILE
    if not source.is_file():
        raise SystemExit(f"{source} not found: pass --data-dir with the Biogen ADME file ({BIOGEN_FILE})")
    table = pd.read_csv(source)[["SMILES", *BIOGEN_TARGETS]].rename(columns={"SMILES": "smiles"})
    parts = np.random.default_rng(0).choice(["train", "val", "test"], size=len(table), p=[0.8, 0.1, 0.1])
    table["split"] = parts
    path = work_dir / "parity" / "biogen.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def parity_config(table: Path, epochs: int) -> dict[str, Any]:
    """chemprop's default MPNN on ``table`` as an ``hpo train`` config (sampler off: a plain shuffle)."""
    return {
        "data": {"path": str(table.resolve()), "target_cols": list(BIOGEN_TARGETS), "split_col": "split"},
        "split": {"method": "column"},
        "model": {"message_hidden_dim": 300, "depth": 3, "ffn_hidden_dim": 300, "dropout": 0.0},
        "optim": {"warmup_epochs": 2, "init_lr": 1e-4, "max_lr": 1e-3, "final_lr": 1e-4},
        "trainer": {"max_epochs": epochs, "batch_size": 64, "early_stopping_patience": None},
    }


def hpo_command(table: Path, epochs: int, out: Path) -> list[str]:
    """``hpo train`` of :func:`parity_config`."""
    config = write_yaml(out / "config.yaml", {**parity_config(table, epochs), "output_dir": str(out / "run")})
    return [sys.executable, "-m", "admet_hpo", "train", str(config), "--quiet"]


def chemprop_command(table: Path, epochs: int, out: Path) -> list[str]:
    """``chemprop train`` with its defaults (hidden 300, depth 3, FFN 300, batch 64, warm-up 2) on the
    same table and split column."""
    chemprop = Path(sys.executable).with_name("chemprop")
    return [
        str(chemprop),
        "train",
        "-i",
        str(table),
        "-s",
        "smiles",
        "--target-columns",
        *BIOGEN_TARGETS,
        "--splits-column",
        "split",
        "--epochs",
        str(epochs),
        "-b",
        "64",
        "--accelerator",
        "cpu",
        "--num-workers",
        "0",
        "-o",
        str(out / "run"),
    ]


def timed(command: list[str], threads: int) -> float:
    """Wall seconds of a whole process (start-up included); a failed command stops the benchmark."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} {command[1]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


#: Whole-process timings per tool and epoch count; the fastest counts (the others met more interference
#: from the rest of the machine, which only ever adds time).
PARITY_REPEATS = 2


def run_parity(scale: Scale, data_dir: Path, work_dir: Path, threads: int) -> dict[str, Any]:
    """Whole-process times of both tools at two epoch counts, interleaved, each the fastest of
    :data:`PARITY_REPEATS`; per-epoch time by difference, so start-up cancels out."""
    table = parity_table(data_dir, work_dir)
    short, long = scale.parity_epochs
    builders = {"hpo train": hpo_command, "chemprop train": chemprop_command}
    runs: dict[str, dict[int, list[float]]] = {tool: {short: [], long: []} for tool in builders}
    for repeat in range(PARITY_REPEATS):
        for epochs in (short, long):
            for tool, build in builders.items():
                out = work_dir / "parity" / f"{tool.split()[0]}-{epochs}-{repeat}"
                runs[tool][epochs].append(timed(build(table, epochs, out), threads))
                print(f"== parity {tool} {epochs} epochs: {runs[tool][epochs][-1]:.1f} s", flush=True)
    times = {tool: [min(by_epochs[short]), min(by_epochs[long])] for tool, by_epochs in runs.items()}
    per_epoch = {tool: (t[1] - t[0]) / (long - short) for tool, t in times.items()}
    return {
        "epochs": [short, long],
        "seconds": times,
        "all_seconds": {tool: {str(e): t for e, t in by_epochs.items()} for tool, by_epochs in runs.items()},
        "per_epoch": per_epoch,
        "ratio": per_epoch["hpo train"] / per_epoch["chemprop train"],
        "threads": threads,
        "load": os.getloadavg()[0],
    }


def parity_section(result: dict[str, Any]) -> str:
    short, long = result["epochs"]
    table = markdown_table(
        ["tool", f"{short} epochs (s)", f"{long} epochs (s)", "per epoch (s)"],
        [
            [tool, fmt(t[0], 1), fmt(t[1], 1), fmt(result["per_epoch"][tool], 2)]
            for tool, t in result["seconds"].items()
        ],
    )
    return (
        table + f"\n\nPer-epoch ratio hpo train / chemprop train: **{result['ratio']:.2f}** "
        f"({result['threads']} torch threads, load average {result['load']:.1f} at the end). Each time is "
        f"the fastest of {PARITY_REPEATS} whole-process runs (all: `search_efficiency_record.json`)."
    )


# --- 2. service overhead ----------------------------------------------------------------------------


@dataclass
class Clocks:
    """Wall time and this thread's CPU time (the latter barely moves when other jobs load the machine)."""

    wall: float = 0.0
    cpu: float = 0.0

    @staticmethod
    def now() -> Clocks:
        return Clocks(time.perf_counter(), time.thread_time())

    def __sub__(self, other: Clocks) -> Clocks:
        return Clocks(self.wall - other.wall, self.cpu - other.cpu)

    def __add__(self, other: Clocks) -> Clocks:
        return Clocks(self.wall + other.wall, self.cpu + other.cpu)


@dataclass
class TrainTimer:
    """Wraps ``admet_hpo.training.run.train``: time inside it, and inside its epoch listeners; and
    ``optuna.Trial.report``, which the objective calls on its reporting thread."""

    train: Clocks = field(default_factory=Clocks)
    listeners: Clocks = field(default_factory=Clocks)
    reports: Clocks = field(default_factory=Clocks)
    epochs: int = 0

    def wrap_report(self, report: Callable[..., None]) -> Callable[..., None]:
        def timed_report(trial: Any, value: float, step: int) -> None:
            start = Clocks.now()
            try:
                report(trial, value, step)
            finally:
                self.reports += Clocks.now() - start

        return timed_report

    def wrap(self, train: Callable[..., Any]) -> Callable[..., Any]:
        def timed_listener(listener: Callable[[int, dict[str, float]], None]) -> Callable[..., None]:
            def call(epoch: int, metrics: dict[str, float]) -> None:
                start = Clocks.now()
                try:
                    listener(epoch, metrics)
                finally:
                    self.listeners += Clocks.now() - start
                    self.epochs += 1

            return call

        def timed_train(config: Any, **kwargs: Any) -> Any:
            kwargs["listeners"] = [timed_listener(listener) for listener in kwargs.get("listeners", ())]
            start = Clocks.now()
            try:
                return train(config, **kwargs)
            finally:
                self.train += Clocks.now() - start

        return timed_train


def overhead_study(folder: Path, storage: str, tracking: str, trials: int, epochs: int) -> Path:
    """A study of tiny real trials on the demo data with the product's default pruner."""
    write_yaml(
        folder / "space.yaml",
        {
            "parameters": {
                "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 5e-3, "log": True},
                "alpha": {
                    "path": "sampling.task_oversampling.alpha",
                    "type": "float",
                    "low": 0.0,
                    "high": 1.0,
                },
            }
        },
    )
    return write_yaml(
        folder / "study.yaml",
        {
            "name": "overhead",
            "search_spaces": ["space.yaml"],
            "training": {
                "data": {"dataset": "demo"},
                "model": {"message_hidden_dim": 16, "depth": 1, "ffn_hidden_dim": 16},
                "optim": {"warmup_epochs": 1},
                "trainer": {"max_epochs": epochs, "early_stopping_patience": None, "progress_bar": False},
                "sampling": {"task_oversampling": {"enabled": True}},
            },
            "sampler": {"type": "tpe", "seed": 0},
            "n_trials": trials,
            "storage": storage,
            "mlflow": {"tracking_uri": tracking},
            "output_dir": "out",
        },
    )


def measure_overhead(backend: str, storage: str, tracking: str, folder: Path, scale: Scale) -> dict[str, Any]:
    """Per-trial and per-epoch service time of real trials (see the module docstring)."""
    import optuna

    import admet_hpo.training.run as training_run
    from admet_hpo.config.study import load_study
    from admet_hpo.orchestration.runner import prepare_study, run_worker
    from admet_hpo.orchestration.session import StudySession

    timer = TrainTimer()
    walls: list[Clocks] = []  # per trial: callback to callback
    inside: list[Clocks] = []  # per trial: inside train()
    marks = {"last": Clocks(), "train": Clocks()}

    def after_trial(study: Any, trial: Any) -> None:
        now = Clocks.now()
        walls.append(now - marks["last"])
        inside.append(timer.train - marks["train"])
        marks.update(last=now, train=timer.train)

    study = load_study(
        overhead_study(folder, storage, tracking, scale.overhead_trials, scale.overhead_epochs)
    )
    session = StudySession(study)
    prepare_study(session)
    original, original_report = training_run.train, optuna.Trial.report
    training_run.train = timer.wrap(original)  # the objective imports train at each trial
    optuna.Trial.report = timer.wrap_report(original_report)  # type: ignore[method-assign]
    try:
        marks["last"] = Clocks.now()
        run_worker(session, n_trials=study.n_trials, timeout=None, callbacks=(after_trial,))
    finally:
        training_run.train, optuna.Trial.report = original, original_report  # type: ignore[method-assign]
    # the service's time per trial: the trial's time outside train(), plus its listeners' time inside
    service = [wall - train for wall, train in zip(walls, inside, strict=True)][1:]  # trial 0 loads the data
    epochs = max(timer.epochs, 1)
    return {
        "backend": backend,
        "tool": PRODUCT_TOOL,
        "trials": len(walls),
        "epochs": timer.epochs,
        "per_trial_ms": 1000 * statistics.median(s.wall for s in service),
        "per_trial_cpu_ms": 1000 * statistics.median(s.cpu for s in service),
        "per_epoch_ms": 1000 * timer.listeners.wall / epochs,
        "per_epoch_cpu_ms": 1000 * (timer.listeners.cpu + timer.reports.cpu) / epochs,
        "train_share": timer.train.wall / sum(w.wall for w in walls),
        "load": os.getloadavg()[0],
    }


#: The ``tool`` of the overhead rows: the product's runner, and Optuna alone.
PRODUCT_TOOL, PLAIN_OPTUNA_TOOL = "hpo (runner)", "plain Optuna"


def stand_in_loss(params: dict[str, Any], epoch: int) -> float:
    """A deterministic learning curve for the plain-Optuna baseline (no training): falls with the epoch,
    lowest near ``max_lr`` = 1e-3, so that the pruner has differences to act on."""
    return 1.0 + abs(math.log10(params["max_lr"]) + 3.0) + 0.1 * params["alpha"] + 1.0 / (epoch + 1)


def measure_plain_optuna(backend: str, storage: str, folder: Path, scale: Scale) -> dict[str, Any]:
    """Plain Optuna on the same kind of storage (a URL, Optuna's own engine settings) with the overhead
    study's sampler, pruner and parameters: per trial ``ask``, the suggestions and ``tell``; per epoch
    ``trial.report`` and ``trial.should_prune`` (Optuna's documented pruning loop), around a training
    stand-in that returns :func:`stand_in_loss` at once. What a user of Optuna alone pays per trial and
    per epoch besides training, beside :func:`measure_overhead`'s figures for the product."""
    import optuna

    from admet_hpo.config.study import load_study
    from admet_hpo.search.algorithms import build_pruner, build_sampler
    from admet_hpo.search.space import suggest

    study = load_study(overhead_study(folder, storage, storage, scale.overhead_trials, scale.overhead_epochs))
    optuna_study = optuna.create_study(
        study_name="plain-optuna", storage=storage, sampler=build_sampler(study), pruner=build_pruner(study)
    )
    per_trial: list[Clocks] = []
    in_epochs, epochs = Clocks(), 0
    for _ in range(study.n_trials):
        start = Clocks.now()
        trial = optuna_study.ask()
        params = suggest(trial, study.space)
        loop_start = Clocks.now()
        value, pruned = None, False
        for epoch in range(scale.overhead_epochs):
            value = stand_in_loss(params, epoch)
            trial.report(value, epoch)
            epochs += 1
            pruned = trial.should_prune()
            if pruned:
                break
        loop = Clocks.now() - loop_start
        in_epochs += loop
        if pruned:
            optuna_study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            optuna_study.tell(trial, value)
        per_trial.append(Clocks.now() - start - loop)
    service = per_trial[1:]  # as for the product: the first trial also creates the storage's tables
    return {
        "backend": backend,
        "tool": PLAIN_OPTUNA_TOOL,
        "trials": len(per_trial),
        "epochs": epochs,
        "per_trial_ms": 1000 * statistics.median(s.wall for s in service),
        "per_trial_cpu_ms": 1000 * statistics.median(s.cpu for s in service),
        "per_epoch_ms": 1000 * in_epochs.wall / max(epochs, 1),
        "per_epoch_cpu_ms": 1000 * in_epochs.cpu / max(epochs, 1),
        "train_share": None,
        "load": os.getloadavg()[0],
    }


#: Rounds of the overhead section; each (back end, tool) reports its fastest round (other jobs on the
#: machine only add time, and the section's tiny trials show a few hundred milliseconds of them).
OVERHEAD_REPEATS = 2


def overhead_round(scale: Scale, folder: Path) -> list[dict[str, Any]]:
    """One round of the overhead section in ``folder``: :func:`measure_overhead` and
    :func:`measure_plain_optuna` on SQLite files, then on PostgreSQL databases (created and dropped)."""
    sqlite = folder / "sqlite"
    rows = [
        measure_overhead(
            "SQLite", f"sqlite:///{sqlite / 'optuna.db'}", f"sqlite:///{sqlite / 'mlflow.db'}", sqlite, scale
        ),
        measure_plain_optuna("SQLite", f"sqlite:///{sqlite / 'plain-optuna.db'}", sqlite / "plain", scale),
    ]
    with pg_database() as optuna_db, pg_database() as mlflow_db, pg_database() as plain_db:
        rows.append(
            measure_overhead("PostgreSQL", f"{PG}/{optuna_db}", f"{PG}/{mlflow_db}", folder / "pg", scale)
        )
        rows.append(measure_plain_optuna("PostgreSQL", f"{PG}/{plain_db}", folder / "plain-pg", scale))
    return rows


def fastest_rounds(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per (back end, tool), the round with the lowest wall time per trial, in the first round's order;
    each row keeps every round's per-trial wall time under ``rounds_per_trial_ms``."""
    rows = []
    for position, first in enumerate(rounds[0]):
        same = [round_rows[position] for round_rows in rounds]
        assert all((r["backend"], r["tool"]) == (first["backend"], first["tool"]) for r in same)
        fastest = min(same, key=lambda r: r["per_trial_ms"])
        rows.append({**fastest, "rounds_per_trial_ms": [r["per_trial_ms"] for r in same]})
    return rows


def run_overhead(scale: Scale, work_dir: Path) -> list[dict[str, Any]]:
    """:data:`OVERHEAD_REPEATS` rounds of :func:`overhead_round`, with the libraries' logging set as every
    ``hpo`` command sets it; the fastest round of each (back end, tool)."""
    from admet_hpo.cli.console import quiet_libraries

    quiet_libraries()
    rounds = [overhead_round(scale, work_dir / f"overhead-{index}") for index in range(OVERHEAD_REPEATS)]
    rows = fastest_rounds(rounds)
    for row in rows:
        print(f"== overhead {row}", flush=True)
    return rows


def overhead_section(rows: list[dict[str, Any]]) -> str:
    """The overhead table: wall and CPU milliseconds per trial (outside training) and per epoch, the
    product's runner beside plain Optuna on each back end, and what the product adds."""
    table = markdown_table(
        [
            "back end",
            "tool",
            "trials",
            "epochs",
            "per trial: wall ms",
            "per trial: CPU ms",
            "per epoch: wall ms",
            "per epoch: CPU ms",
            "training share of wall time",
            "load average",
        ],
        [
            [
                r["backend"],
                r["tool"],
                r["trials"],
                r["epochs"],
                fmt(r["per_trial_ms"], 1),
                fmt(r["per_trial_cpu_ms"], 1),
                fmt(r["per_epoch_ms"], 2),
                fmt(r["per_epoch_cpu_ms"], 2),
                "-" if r["train_share"] is None else f"{r['train_share']:.1%}",
                fmt(r["load"], 1),
            ]
            for r in rows
        ],
    )
    product = {r["backend"]: r["per_trial_ms"] for r in rows if r["tool"] == PRODUCT_TOOL}
    added = [
        f"{r['backend']} {fmt(product[r['backend']] - r['per_trial_ms'], 1)} ms"
        for r in rows
        if r["tool"] == PLAIN_OPTUNA_TOOL and r["backend"] in product
    ]
    return (
        table
        + "\n\nPer trial: a trial's wall (CPU: the trial's thread) time outside training, the median over "
        f"the trials after the first; each row is the fastest of {OVERHEAD_REPEATS} rounds (all rounds: "
        "`search_efficiency_record.json`). Plain Optuna: the same sampler, pruner, parameters and storage "
        "kind, `ask`, the suggestions and `tell` per trial, `report` and `should_prune` every epoch around a "
        "training stand-in (no model, no MLflow): what the same search costs with Optuna alone. "
        f"What the product adds per trial over plain Optuna: {', '.join(added)}."
    )


# --- 3. pruning -------------------------------------------------------------------------------------


PRUNERS = ("none", "hyperband", "successive_halving")
#: Random search: every pruner's study samples the same trials, so the best values differ only by what the
#: pruner stopped (with TPE the studies part ways at the first pruned trial, and 12 trials cannot tell a
#: pruner's effect from the search's luck).
PRUNING_SAMPLER = "random"
SEARCH_SPACES = BENCH_DIR.parent / "search_spaces"


def pruning_study_file(folder: Path, table: Path, pruner: str, scale: Scale) -> Path:
    """The parity table searched over a shipped model space with the random sampler (seed 0: the same
    trials whatever the pruner) for ``pruning_trials`` trials of ``pruning_epochs`` epochs (no early
    stopping, so that only the pruner ends a trial early); the pruner's resources are the product's
    defaults."""
    config = parity_config(table, scale.pruning_epochs)
    config["trainer"]["progress_bar"] = False
    return write_yaml(
        folder / "study.yaml",
        {
            "name": f"pruning-{pruner}",
            "search_spaces": [str(SEARCH_SPACES / scale.pruning_space)],
            "training": config,
            "sampler": {"type": PRUNING_SAMPLER, "seed": 0},
            "pruner": {"type": pruner},
            "n_trials": scale.pruning_trials,
            "output_dir": "out",
        },
    )


def run_pruning(scale: Scale, data_dir: Path, work_dir: Path) -> list[dict[str, Any]]:
    """The same seeded study run by ``hpo run`` with each of :data:`PRUNERS` (``none`` first: the
    reference): epochs trained, wall time and best value."""
    from cost_study import pruning_row

    table = parity_table(data_dir, work_dir)
    rows = []
    for pruner in PRUNERS:
        study_file = pruning_study_file(work_dir / f"pruning-{pruner}", table, pruner, scale)
        _, wall = timed_study([sys.executable, "-m", "admet_hpo", "run", str(study_file), "--quiet"])
        trials = finished_trials(study_file)
        best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
        rows.append(pruning_row(pruner, trials, best, wall / 60))
        print(f"== pruning {rows[-1] | {'params': '...'}}", flush=True)
    return rows


# --- 4. workers -------------------------------------------------------------------------------------


def workers_study(folder: Path, table: Path, trials: int, epochs: int) -> Path:
    """The parity model on the parity table as a study: one learning-rate parameter, random sampler (the
    same trials whatever the number of workers), no pruner, every trial ``epochs`` long."""
    space = {"parameters": {"max_lr": {"path": "optim.max_lr", "type": "float", "low": 5e-4, "high": 2e-3}}}
    write_yaml(folder / "space.yaml", space)
    config = parity_config(table, epochs)
    config["trainer"]["progress_bar"] = False
    return write_yaml(
        folder / "study.yaml",
        {
            "name": "workers",
            "search_spaces": ["space.yaml"],
            "training": config,
            "sampler": {"type": "random", "seed": 0},
            "pruner": {"type": "none"},
            "baseline": False,
            "n_trials": trials,
            "output_dir": "out",
        },
    )


def timed_study(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a whole ``hpo`` command; (launch time as a UNIX timestamp, wall seconds)."""
    launched, start = time.time(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=7200, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:5])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return launched, time.perf_counter() - start


def finished_trials(study_file: Path, storage: str | None = None) -> list[Any]:
    """The finished trials of a study file's study (in ``storage`` when given, else the file's)."""
    import optuna

    from admet_hpo.config.study import load_study
    from admet_hpo.orchestration.runner import FINISHED
    from admet_hpo.search.versioning import versioned_study_name

    study = load_study(study_file)
    optuna_study = optuna.load_study(study_name=versioned_study_name(study), storage=storage or study.storage)
    return optuna_study.get_trials(deepcopy=False, states=FINISHED)


def import_floor(repeats: int = 2) -> float:
    """Seconds a fresh process takes to import what the workers' fork server preloads (the fastest of
    ``repeats`` runs): what a worker would import itself if it were not forked from that server."""
    command = [sys.executable, "-c", "import admet_hpo.cli.worker_preload"]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, timeout=600)
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def first_per_worker(trials: list[Any], seconds: dict[int, float]) -> list[float]:
    """Per worker (its ``worker`` user attribute), the least ``seconds[trial number]`` of its trials,
    sorted."""
    from admet_hpo.tracking.keys import WORKER_ATTR

    first: dict[str, float] = {}
    for trial in trials:
        worker = str(trial.user_attrs.get(WORKER_ATTR))
        first[worker] = min(first.get(worker, math.inf), seconds[trial.number])
    return sorted(first.values())


def mlflow_run_starts(study_file: Path, trials: list[Any]) -> dict[int, float]:
    """Trial number -> start of its MLflow run (UNIX seconds): the trial has imported the training code,
    sampled and resolved its config; what follows is ``train()`` (graphs from the cache, the model)."""
    from mlflow import MlflowClient

    from admet_hpo.config.study import load_study
    from admet_hpo.tracking.keys import RUN_ID_ATTR

    client = MlflowClient(tracking_uri=load_study(study_file).mlflow_tracking_uri)
    return {t.number: client.get_run(t.user_attrs[RUN_ID_ATTR]).info.start_time / 1000 for t in trials}


#: ``(workers, torch threads per worker)`` of the workers section: one worker with every core (what
#: ``hpo run`` does by default), one worker with one thread (a core left free), two workers with one
#: thread each (``hpo run --workers 2`` splits the cores); None: the product's own choice.
WORKER_LAYOUTS: tuple[tuple[int, int | None], ...] = ((1, None), (1, 1), (2, None))


def run_workers(scale: Scale, data_dir: Path, work_dir: Path) -> list[dict[str, Any]]:
    """``hpo run`` in each of :data:`WORKER_LAYOUTS` on the same fixed study (see the module
    docstring)."""
    from admet_hpo.orchestration.launcher import THREADS_ENV, default_worker_threads

    table = parity_table(data_dir, work_dir)
    floor = import_floor()
    rows = []
    for workers, threads in WORKER_LAYOUTS:
        folder = work_dir / f"workers-{workers}x{threads or 'default'}"
        study_file = workers_study(folder, table, scale.workers_trials, scale.workers_epochs)
        command = [sys.executable, "-m", "admet_hpo", "run", str(study_file), "--workers", str(workers)]
        env = {**os.environ, THREADS_ENV: str(threads)} if threads else None
        launched, wall = timed_study([*command, "--quiet"], env=env)
        trials = finished_trials(study_file)
        first = first_per_worker(trials, {t.number: t.datetime_start.timestamp() - launched for t in trials})
        runs = {number: start - launched for number, start in mlflow_run_starts(study_file, trials).items()}
        first_run = first_per_worker(trials, runs)
        rows.append(
            {
                "workers": workers,
                "threads": threads or default_worker_threads(workers),
                "trials": len(trials),
                "epochs": sum(len(t.intermediate_values) for t in trials),
                "wall_s": wall,
                "trials_per_hour": 3600 * len(trials) / wall,
                "first_trial_s": first,
                "first_run_s": first_run,
                "import_floor_s": floor,
                "load": os.getloadavg()[0],
            }
        )
        print(f"== workers {rows[-1]}", flush=True)
    return rows


def workers_section(rows: list[dict[str, Any]]) -> str:
    """The workers table and its ratios: two workers against one worker with every core (what a user of
    this machine gains) and against one worker with one thread (what a worker adds when it has a free
    core)."""
    table = markdown_table(
        [
            "workers",
            "torch threads each",
            "trials",
            "epochs",
            "wall time (s)",
            "trials per hour",
            "launch to first trial (s)",
            "launch to its MLflow run (s)",
        ],
        [
            [
                r["workers"],
                r["threads"],
                r["trials"],
                r["epochs"],
                fmt(r["wall_s"], 1),
                fmt(r["trials_per_hour"], 1),
                ", ".join(fmt(s, 1) for s in r["first_trial_s"]),
                ", ".join(fmt(s, 1) for s in r["first_run_s"]),
            ]
            for r in rows
        ],
    )
    one_all, one_single, two = rows
    return (
        table
        + f"\n\n`--workers 2` finished the same study **{one_all['wall_s'] / two['wall_s']:.2f}x** as fast "
        f"as `--workers 1` with all {one_all['threads']} cores as torch threads, and "
        f"**{one_single['wall_s'] / two['wall_s']:.2f}x** as fast as one worker with one thread (each "
        "worker then has a free core: the scaling of workers themselves, without the single worker's own "
        "multi-threading). Launch to first trial: from starting `hpo run` to each worker's first trial in "
        "the storage (imports, the study session, the data); launch to its MLflow run: to that trial's "
        "MLflow run, which the trial opens once it has the training code imported, its parameters sampled "
        "and its config resolved, right before `train()` (graphs from the cache, the model, then the first "
        "step); the gap between the two columns is that trial's own start-up, for a single worker "
        "including whatever of the training code it had not imported yet. With two, the workers are forked "
        "from a server that imported the training stack while the launcher prepared the study, so they pay "
        "the imports once between them. "
        "A fresh process importing all that the server preloads (both SQL dialects, the MLflow SQL store, "
        f"the CLI) takes {fmt(one_all['import_floor_s'], 1)} s here (fastest of 2); one worker in the "
        "launcher imports less."
    )


# --- 5. the shipped study ---------------------------------------------------------------------------


def run_shipped(scale: Scale, data_dir: Path | None, cache_dir: Path, work_dir: Path) -> dict[str, Any]:
    """``studies/biogen_adme.yaml`` for ``shipped_trials`` trials of at most ``shipped_epochs`` epochs."""
    from bench_data import known_table

    known_table(cache_dir, data_dir, "adme_multisource")
    out = work_dir / "shipped"
    storage = f"sqlite:///{out / 'optuna.db'}"
    epochs = f"trainer.max_epochs={scale.shipped_epochs}"
    command = [sys.executable, "-m", "admet_hpo", "run", str(SHIPPED_STUDY), "--output-dir", str(out)]
    command += ["--storage", storage, "--n-trials", str(scale.shipped_trials), "--set", epochs, "--quiet"]
    _, wall = timed_study(command, env={**os.environ, "ADMET_HPO_CACHE": str(cache_dir)})
    trials = finished_trials(SHIPPED_STUDY, storage)  # --set leaves the study version as it is
    epochs_run = sum(len(t.intermediate_values) for t in trials)
    result = {
        "command": " ".join(["hpo", *command[3:]]),
        "trials": len(trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "epochs": epochs_run,
        "wall_s": wall,
        "trials_per_hour": 3600 * len(trials) / wall,
        "epochs_per_hour": 3600 * epochs_run / wall,
        "load": os.getloadavg()[0],
    }
    print(f"== shipped {result}", flush=True)
    return result


def shipped_section(result: dict[str, Any]) -> str:
    table = markdown_table(
        ["trials", "pruned", "epochs", "wall time (min)", "trials per hour", "epochs per hour"],
        [
            [
                result["trials"],
                result["pruned"],
                result["epochs"],
                fmt(result["wall_s"] / 60, 1),
                fmt(result["trials_per_hour"], 1),
                fmt(result["epochs_per_hour"], 0),
            ]
        ],
    )
    return f"`{result['command']}` (one worker, two torch threads):\n\n" + table


# --- entry point ------------------------------------------------------------------------------------


def report(record: dict[str, Any]) -> str:
    """The markdown of every measured section."""
    from cost_study import pruning_section

    parts = [f"- command: `{record['command']}`", record["machine"]]
    if "parity" in record:
        parts.append("### Per-epoch time: hpo train vs chemprop train\n\n" + parity_section(record["parity"]))
    if "overhead" in record:
        parts.append(
            "### Service overhead per trial and per epoch\n\n" + overhead_section(record["overhead"])
        )
    if "pruning" in record:
        parts.append(
            "### Pruning: the same seeded study without and with pruners\n\n"
            + pruning_section(record["pruning"], PRUNING_SAMPLER)
        )
    if "workers" in record:
        parts.append("### Workers: 1 vs 2 on a real-size study\n\n" + workers_section(record["workers"]))
    if "shipped" in record:
        parts.append("### The shipped study: trials per hour\n\n" + shipped_section(record["shipped"]))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    scale = SCALES[args.scale]
    sections = args.only or list(SECTIONS)
    cache_dir = args.cache_dir.resolve()
    os.environ.setdefault("ADMET_HPO_CACHE", str(cache_dir))
    clock = Clock()
    record: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/search_efficiency.py", *(argv or sys.argv[1:])])
    }
    with contextlib.ExitStack() as stack:
        work_dir = (args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))).resolve()
        if {"parity", "pruning", "workers"} & set(sections) and args.data_dir is None:
            raise SystemExit(
                "the parity, pruning and workers sections need --data-dir (the folder of the Biogen file)"
            )
        if "parity" in sections:
            record["parity"] = run_parity(scale, args.data_dir.resolve(), work_dir, args.threads)
        if "overhead" in sections:
            record["overhead"] = run_overhead(scale, work_dir)
        if "pruning" in sections:
            record["pruning"] = run_pruning(scale, args.data_dir.resolve(), work_dir)
        if "workers" in sections:
            record["workers"] = run_workers(scale, args.data_dir.resolve(), work_dir)
        if "shipped" in sections:
            record["shipped"] = run_shipped(scale, args.data_dir, cache_dir, work_dir)
    record["machine"] = clock.describe(args.threads)
    text = report(record)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "search_efficiency.md").write_text(
        "# Search efficiency results (generated by benchmarks/search_efficiency.py)\n\n" + text + "\n",
        encoding="utf-8",
    )
    record_file = args.results_dir / "search_efficiency_record.json"
    record_file.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    if args.results_dir.resolve() == DEFAULT_RESULTS and set(sections) == set(SECTIONS):
        replace_block(README, "search-efficiency", text)
        print(f"updated the search-efficiency block of {README}")
    print(text)


if __name__ == "__main__":
    main()
