"""Search efficiency (issue 10): what a study spends besides useful training, measured side by side.

1. **Per-epoch parity**: ``hpo train`` vs ``chemprop train`` on the same table (the Biogen ADME set,
   six endpoints, a seeded random split frozen into a split column both tools read), the same model
   (chemprop's default MPNN: hidden 300, depth 3, FFN 300, batch 64, warm-up 2 epochs) and threads;
   whole-process wall times at two epoch counts, alternating the tools, so start-up cancels out:
   per-epoch time = (t(long) - t(short)) / (long - short).
2. **Service overhead**: real trials of the product's runner (``run_worker``: budget gate, stale checks,
   sampling, MLflow run, epoch reports, pruning, note, tell) on the demo data with a tiny model, on a
   SQLite file and on the local PostgreSQL server (MLflow store on the same back end). Training time is
   measured inside ``admet_hpo.training.run.train`` (wrapped here); what the service adds per epoch is
   the time spent in the epoch listeners (the objective's report / prune / metrics), what it adds per
   trial is the rest of a trial's wall time (callback to callback) outside ``train``.
3. **Pruning**: the quality study's joint arm with pruner ``none`` vs the product's default
   (``hyperband`` with derived resources): epochs trained and best value (``cost_study.pruning_study``).
4. **Workers**: ``hpo worker`` start to its first trial's first epoch (read from the storage), and
   ``hpo run --workers 1`` vs ``--workers 2`` wall time on a fixed study of real-size trials.

Run from the repository root (PostgreSQL at 127.0.0.1:5432 as ``postgres``; databases are created and
dropped; the Biogen file is read from ``--data-dir``, never downloaded)::

    python benchmarks/search_efficiency.py --data-dir ../shared/data [--scale default|large] [--only overhead]

Writes ``search_efficiency.md`` and ``search_efficiency_record.json`` to ``--results-dir`` and, for the
default results folder, replaces the ``search-efficiency`` block of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench_report import Clock, fmt, markdown_table

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
BIOGEN_FILE = "ADME_public_set_3521.csv"
SECTIONS = ("parity", "overhead", "pruning", "workers")


@dataclass(frozen=True)
class Scale:
    """The sizes of one run (``default`` fits in about 20 minutes on a 2-core machine)."""

    parity_epochs: tuple[int, int]
    overhead_trials: int
    overhead_epochs: int
    pruning_trials: int
    pruning_epochs: int
    worker_trials: int
    worker_epochs: int


SCALES = {
    "tiny": Scale((1, 2), 3, 3, 2, 2, 2, 1),
    "default": Scale((2, 6), 10, 10, 8, 10, 4, 3),
    "large": Scale((2, 12), 30, 20, 30, 30, 12, 10),
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


@contextlib.contextmanager
def pg_database(prefix: str = "admet_hpo_bench") -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards; yields its URL."""
    import secrets

    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        try:
            yield f"{PG}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def write_yaml(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


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
    """Wraps ``admet_hpo.training.run.train``: time inside it, and inside its epoch listeners."""

    train: Clocks = field(default_factory=Clocks)
    listeners: Clocks = field(default_factory=Clocks)
    epochs: int = 0

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
    import admet_hpo.training.run as training_run
    from admet_hpo.config.study import load_study
    from admet_hpo.search.runner import prepare_study, run_worker

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
    prepare_study(study)
    original = training_run.train
    training_run.train = timer.wrap(original)  # the objective imports train at each trial
    try:
        marks["last"] = Clocks.now()
        run_worker(study, n_trials=study.n_trials, timeout=None, callbacks=(after_trial,))
    finally:
        training_run.train = original
    # the service's time per trial: the trial's time outside train(), plus its listeners' time inside
    service = [wall - train for wall, train in zip(walls, inside, strict=True)][1:]  # trial 0 loads the data
    epochs = max(timer.epochs, 1)
    return {
        "backend": backend,
        "trials": len(walls),
        "epochs": timer.epochs,
        "per_trial_ms": 1000 * statistics.median(s.wall for s in service),
        "per_trial_cpu_ms": 1000 * statistics.median(s.cpu for s in service),
        "per_epoch_ms": 1000 * timer.listeners.wall / epochs,
        "per_epoch_cpu_ms": 1000 * timer.listeners.cpu / epochs,
        "train_share": timer.train.wall / sum(w.wall for w in walls),
        "load": os.getloadavg()[0],
    }


def run_overhead(scale: Scale, work_dir: Path) -> list[dict[str, Any]]:
    rows = []
    rows.append(
        measure_overhead(
            "SQLite",
            f"sqlite:///{work_dir / 'overhead-sqlite' / 'optuna.db'}",
            f"sqlite:///{work_dir / 'overhead-sqlite' / 'mlflow.db'}",
            work_dir / "overhead-sqlite",
            scale,
        )
    )
    with pg_database() as optuna_url, pg_database() as mlflow_url:
        rows.append(measure_overhead("PostgreSQL", optuna_url, mlflow_url, work_dir / "overhead-pg", scale))
    for row in rows:
        print(f"== overhead {row}", flush=True)
    return rows


def overhead_section(rows: list[dict[str, Any]]) -> str:
    """The overhead table: wall and CPU milliseconds per trial (outside training) and per epoch."""
    return markdown_table(
        [
            "back end",
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
                r["trials"],
                r["epochs"],
                fmt(r["per_trial_ms"], 1),
                fmt(r["per_trial_cpu_ms"], 1),
                fmt(r["per_epoch_ms"], 2),
                fmt(r["per_epoch_cpu_ms"], 2),
                f"{r['train_share']:.1%}",
                fmt(r["load"], 1),
            ]
            for r in rows
        ],
    )


# --- entry point ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    scale = SCALES[args.scale]
    sections = args.only or list(SECTIONS)
    os.environ.setdefault("ADMET_HPO_CACHE", str(args.cache_dir.resolve()))
    clock = Clock()
    with contextlib.ExitStack() as stack:
        work_dir = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        record: dict[str, Any] = {
            "command": " ".join(["python", "benchmarks/search_efficiency.py", *sys.argv[1:]])
        }
        if "overhead" in sections:
            record["overhead"] = run_overhead(scale, work_dir)
    print(overhead_section(record["overhead"]))
    del clock


if __name__ == "__main__":
    main()
