"""Cost study (issue 6): what the search service costs besides training itself.

1. Pruning: the quality study's joint arm (same seeded study: TPE seed 0, same data and epochs) run
   through the product's runner once per pruner (default: ``none``, ``median`` with the arm's arguments,
   ``hyperband`` with the product's derived arguments): total epochs trained, wall time, best validation
   loss, and how many trials sampled the same parameters as the study without pruning.
2. Featurisation cache: time from the start of a trial's ``train()`` call to its first training step,
   for the first trial of a worker with a cold cache (fresh cache folder, memory cache cleared), the
   next trials of that worker (graphs in memory), and a new worker on the same machine (memory cleared,
   graphs read from the cache folder). Each measured trial stops at its first step. The featurisation
   itself is timed directly too (``FeatureCache.graphs`` cold / from disk / from memory).
3. Sampler overhead at the quality study's settings (batch 64, the benchmark table's training rows,
   full joint sampler with alpha 0.5, patience 2, leaky 0.25, equal condition ratios): ``set_epoch`` +
   drawing one epoch of batches, and the per-epoch statistics the trainer logs, against the epoch wall
   time of a real training run of the same configuration.

Storage and tracking overhead per trial (SQLite, PostgreSQL) is measured by
``benchmarks/storage_overhead.py``.

Run (from the repository root):
    /work/venv/bin/python benchmarks/cost_study.py --cache-dir runs/benchmarks/cache --data-dir ../shared/data
Writes ``cost.md`` and CSV files to ``--results-dir`` and, for the default results folder, replaces the
cost block of ``benchmarks/README.md``. ``--report-from`` rewrites them from a saved ``cost_record.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from admet_hpo.tracking.keys import EPOCHS_ATTR
from bench_arms import RunSettings, compose_arm, write_study_file
from bench_data import BenchTable
from bench_report import Clock, fmt, markdown_table, replace_block, write_csv

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.data.table import MoleculeTable, SplitIndices

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
ARM = "joint"
SAMPLER_VALUES = {"alpha": 0.5, "patience": 2, "leaky": 0.25}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults: about 15 minutes on the shared 2-core machine)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8, help="trials of each pruning study")
    parser.add_argument(
        "--pruners",
        default="none,median,hyperband",
        help="pruner types compared (the first is the reference)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial (the quality default)")
    parser.add_argument("--train-fraction", type=float, default=0.4, help="as in the quality study")
    parser.add_argument("--cache-trials", type=int, default=3, help="trials of the cache worker (>= 2)")
    parser.add_argument("--draw-epochs", type=int, default=20, help="epochs drawn to time the sampler")
    parser.add_argument("--skip-pruning", action="store_true", help="leave out the pruning comparison")
    parser.add_argument("--cache-dir", type=Path, default=None, help="product cache (known tables, graphs)")
    parser.add_argument("--data-dir", type=Path, default=None, help="local source files, if not cached")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/benchmarks/cost"), help="studies, caches")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="tables")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when shared)")
    parser.add_argument("--report-from", type=Path, help="only rewrite the tables from a cost_record.json")
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.trials < 1 or args.cache_trials < 2 or args.draw_epochs < 1:
        parser.error("need --epochs >= 2, --trials >= 1, --cache-trials >= 2, --draw-epochs >= 1")
    if not 0.0 < args.train_fraction <= 1.0:
        parser.error("--train-fraction must be in (0, 1]")
    return args


# --- 1. pruning -------------------------------------------------------------------------------------


def pruning_study(settings: RunSettings, work_dir: Path, bench: BenchTable) -> dict[str, Any]:
    """Run the joint arm's study with ``settings`` and summarise it (one row of the pruning table)."""
    from admet_hpo.config.study import load_study
    from admet_hpo.orchestration.runner import prepare_study, run_worker
    from admet_hpo.orchestration.session import StudySession

    label = settings.pruner or "arm"
    folder = work_dir / f"pruning-{label}"
    mapping = compose_arm(
        ARM, settings, output_dir=folder, table_path=bench.path, target_cols=bench.target_cols
    )
    study = load_study(write_study_file(mapping, folder / "study.yaml"))
    session = StudySession(study)
    started = time.perf_counter()
    optuna_study = prepare_study(session)
    run_worker(session, n_trials=study.n_trials, timeout=None)
    minutes = (time.perf_counter() - started) / 60
    best = optuna_study.best_trial
    print(f"== pruning {label}: {minutes:.1f} min, best {best.value:.4f}", flush=True)
    return pruning_row(label, optuna_study.get_trials(deepcopy=False), best, minutes)


def pruning_row(
    label: str, trials: Sequence[FrozenTrial], best: FrozenTrial, minutes: float
) -> dict[str, Any]:
    """One row of :func:`pruning_section`: a study's trials, pruned trials, epochs trained (the trials'
    ``epochs_run``), wall minutes, its best trial and every trial's parameters (to compare studies)."""
    return {
        "pruning": label,
        "trials": len(trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "epochs": sum(int(t.user_attrs.get(EPOCHS_ATTR, 0)) for t in trials),
        "minutes": round(minutes, 2),
        "best_value": float(best.value),
        "best_trial": best.number,
        "params": [json.dumps(t.params, sort_keys=True) for t in trials],
    }


# --- 2. featurisation cache -------------------------------------------------------------------------


class FirstStepReachedError(Exception):
    """Raised by :class:`StopAtFirstStep` to end a measured trial at its first training step."""


def first_step_callback(started: float, seen: list[float]) -> Any:
    """A Lightning callback that records seconds since ``started`` at the first batch, then stops."""
    import lightning.pytorch as pl

    class StopAtFirstStep(pl.Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            seen.append(time.perf_counter() - started)
            raise FirstStepReachedError

    return StopAtFirstStep()


def time_to_first_step(config: TrainingConfig, data: tuple[MoleculeTable, SplitIndices]) -> float:
    """Seconds from calling ``train()`` to its first training step (the run is stopped there)."""
    from admet_hpo.training.run import train

    seen: list[float] = []
    started = time.perf_counter()
    with contextlib.suppress(FirstStepReachedError):
        train(config, data=data, callbacks=[first_step_callback(started, seen)], progress_bar=False)
    if not seen:
        raise RuntimeError("the measured trial ended without a training step")
    return seen[0]


def cache_trials(
    config: TrainingConfig, data: tuple[MoleculeTable, SplitIndices], cache_dir: Path, n_trials: int
) -> list[dict[str, Any]]:
    """A cold worker's trials, then a new worker on the same machine (see the module docstring)."""
    from admet_hpo.data.molecule_cache import clear_memory
    from admet_hpo.data.storage import CACHE_ENV_VAR

    previous = os.environ.get(CACHE_ENV_VAR)
    os.environ[CACHE_ENV_VAR] = str(cache_dir)
    clear_memory()
    rows = []
    try:
        for trial in range(1, n_trials + 1):
            state = "cold: empty cache folder and memory" if trial == 1 else "graphs in this worker's memory"
            seconds = time_to_first_step(config, data)
            rows.append({"worker": "first", "trial": trial, "cache": state, "seconds": seconds})
        clear_memory()
        seconds = time_to_first_step(config, data)
        rows.append(
            {"worker": "second", "trial": 1, "cache": "read from the cache folder", "seconds": seconds}
        )
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV_VAR, None)
        else:
            os.environ[CACHE_ENV_VAR] = previous
    return rows


def featurize_timings(table: MoleculeTable, cache_dir: Path) -> list[dict[str, Any]]:
    """``FeatureCache.graphs`` on the whole table: featurising, reading the cache file, memory hit."""
    import numpy as np

    from admet_hpo.data.featurize import FeatureCache
    from admet_hpo.data.molecule_cache import clear_memory

    molecules = len(np.unique(table.smiles.astype(str)))
    rows = []
    clear_memory()
    for source in ("featurised (cold)", "read from the cache folder", "taken from memory"):
        if source.startswith("read"):
            clear_memory()
        cache = FeatureCache(cache_dir)
        started = time.perf_counter()
        cache.graphs(table)
        seconds = time.perf_counter() - started
        rows.append(
            {"source": source, "molecules": molecules, "featurised": cache.featurized, "seconds": seconds}
        )
    return rows


# --- 3. sampler overhead ----------------------------------------------------------------------------


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``action``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sampler_config(base: TrainingConfig) -> TrainingConfig:
    """The joint arm's base config with mid-range sampler values (``SAMPLER_VALUES``)."""
    from admet_hpo.config.training import TrainingConfig

    data = base.model_dump()
    data["sampling"]["task_oversampling"]["alpha"] = SAMPLER_VALUES["alpha"]
    data["sampling"]["curriculum"]["patience"] = SAMPLER_VALUES["patience"]
    data["sampling"]["batches"]["leaky"] = SAMPLER_VALUES["leaky"]
    return TrainingConfig.model_validate(data)


def sampler_overhead(
    config: TrainingConfig, data: tuple[MoleculeTable, SplitIndices], draw_epochs: int, out_dir: Path
) -> dict[str, Any]:
    """Sampler setup, per-epoch drawing and statistics against the epoch time of a real run."""
    from admet_hpo.training.run import labelled_rows, train, training_batch_sampler

    table, split = data
    train_table = table.subset(labelled_rows(table, split.train))

    def build() -> Any:
        return training_batch_sampler(config, train_table)

    setup = median_seconds(build, 3)
    sampler = build()
    draws, stats = [], []
    for epoch in range(draw_epochs):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        batches = list(sampler)
        drawn = time.perf_counter()
        sampler.statistics().as_metrics("sampler/")
        draws.append(drawn - started)
        stats.append(time.perf_counter() - drawn)
    stamps: list[float] = []
    run_config = config.model_copy(update={"output_dir": out_dir})
    started = time.perf_counter()
    train(run_config, data=data, listeners=[lambda _epoch, _metrics: stamps.append(time.perf_counter())])
    epoch_times = [b - a for a, b in zip([started, *stamps], stamps, strict=False)]
    steady = epoch_times[1:] or epoch_times
    epoch_seconds = statistics.median(steady)
    draw, stat = statistics.median(draws), statistics.median(stats)
    return {
        "train_rows": len(train_table),
        "batches_per_epoch": len(batches),
        "batch_size": config.trainer.batch_size,
        "setup_seconds": setup,
        "draw_seconds": draw,
        "statistics_seconds": stat,
        "epoch_seconds": epoch_seconds,
        "epoch_seconds_all": epoch_times,
        "overhead_fraction": (draw + stat) / epoch_seconds,
    }


# --- report -----------------------------------------------------------------------------------------


def _less(saving: float, less: str = "less") -> str:
    """A relative saving as words: "25% less" (or ``less``) or, when negative, "10% more"."""
    return f"{saving:.0%} {less}" if saving >= 0 else f"{-saving:.0%} more"


def pruning_section(rows: list[dict[str, Any]], sampler: str = "tpe") -> str:
    """The pruning table and one savings sentence per pruner against the first row (the reference)."""
    if not rows:
        return "Pruning comparison skipped (`--skip-pruning`)."
    table = markdown_table(
        ["pruner", "trials", "pruned", "epochs trained", "wall time (min)", "best val_loss", "best trial"],
        [
            [
                r["pruning"],
                r["trials"],
                r["pruned"],
                r["epochs"],
                f"{r['minutes']:.1f}",
                r["best_value"],
                r["best_trial"],
            ]
            for r in rows
        ],
    )
    reference = rows[0]
    sentences = []
    for row in rows[1:]:
        same = sum(a == b for a, b in zip(row["params"], reference["params"], strict=False))
        saved_epochs = 1 - row["epochs"] / reference["epochs"]
        gap = row["best_value"] / reference["best_value"] - 1
        best = "same" if row["best_trial"] == reference["best_trial"] else "a different"
        sentences.append(
            f"`{row['pruning']}` trained {_less(saved_epochs, 'fewer')} epochs than `{reference['pruning']}` "
            f"({row['epochs']} vs {reference['epochs']}) and took "
            f"{_less(1 - row['minutes'] / reference['minutes'])} wall time; its best validation loss is "
            f"{gap:+.1%} off ({best} best trial; {same} of {min(row['trials'], reference['trials'])} "
            "trials sampled the same parameters)."
        )
    if sampler == "tpe":
        note = " TPE sees pruned trials' last values, so its suggestions after the first pruned trial can"
        note += " differ."
    else:
        note = (
            f" The {sampler} sampler draws the same parameters whatever the pruner, so the studies differ"
            " only in the trials the pruner stopped."
        )
    text = " ".join(sentences) + note
    return table + "\n\n" + text


def cache_section(trials: list[dict[str, Any]], featurize: list[dict[str, Any]]) -> str:
    """The time-to-first-step and direct featurisation tables, with the cold/warm ratio."""
    first = markdown_table(
        ["worker", "trial", "feature cache", "seconds to first training step"],
        [[r["worker"], r["trial"], r["cache"], fmt(r["seconds"], 1)] for r in trials],
    )
    direct = markdown_table(
        ["graphs", "distinct molecules", "featurised", "seconds"],
        [[r["source"], r["molecules"], r["featurised"], fmt(r["seconds"], 2)] for r in featurize],
    )
    cold = trials[0]["seconds"]
    warm = statistics.median(r["seconds"] for r in trials if r["worker"] == "first" and r["trial"] > 1)
    disk = trials[-1]["seconds"]
    text = (
        f"The first trial of a cold worker waits {cold:.1f} s for its first step, later trials "
        f"{warm:.1f} s (median), {cold / warm:.1f}x less; a new worker reading the cache folder waits "
        f"{disk:.1f} s."
    )
    return first + "\n\n" + text + "\n\nFeaturisation of the whole table alone:\n\n" + direct


def sampler_section(result: dict[str, Any]) -> str:
    """The sampler overhead table and sentence."""
    table = markdown_table(
        ["what", "seconds", "per"],
        [
            ["sampler setup (build_batch_sampler)", fmt(result["setup_seconds"], 4), "training run"],
            ["set_epoch + one epoch of batches", fmt(result["draw_seconds"], 4), "epoch"],
            ["sampler statistics (logged every epoch)", fmt(result["statistics_seconds"], 4), "epoch"],
            [
                "epoch wall time (training + validation, median of epochs >= 1)",
                fmt(result["epoch_seconds"], 2),
                "epoch",
            ],
        ],
    )
    text = (
        f"{result['train_rows']} training rows, batch {result['batch_size']}, "
        f"{result['batches_per_epoch']} batches per epoch: drawing plus statistics cost "
        f"{result['overhead_fraction']:.2%} of an epoch."
    )
    return table + "\n\n" + text


def report(record: dict[str, Any]) -> tuple[str, str]:
    """The full ``cost.md`` and the README block (the same sections)."""
    sections = [
        record["settings"],
        "### Pruning: epochs saved at the same seeded study\n\n" + pruning_section(record["pruning"]),
        "### Featurisation cache: time from trial start to first training step\n\n"
        + cache_section(record["cache_trials"], record["featurize"]),
        "### Sampler overhead per epoch\n\n" + sampler_section(record["sampler"]),
    ]
    body = "\n\n".join(sections)
    return "# Cost study results (generated by benchmarks/cost_study.py)\n\n" + body + "\n", body


def run_cost_study(args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    """Every measurement of the module docstring, as one JSON-able record."""
    import torch

    from admet_hpo.config.study import load_study
    from admet_hpo.data.training_data import load_training_data
    from bench_data import arms_bench_table

    torch.set_num_threads(args.threads)
    work_dir = args.work_dir.resolve()
    bench = arms_bench_table(args.cache_dir, args.data_dir, work_dir, args.train_fraction)
    settings = RunSettings(n_trials=args.trials, epochs=args.epochs)
    pruning = []
    if not args.skip_pruning:
        for pruner in args.pruners.split(","):
            pruning.append(pruning_study(replace(settings, pruner=pruner), work_dir, bench))
    measure = work_dir / "measure"
    mapping = compose_arm(
        ARM, settings, output_dir=measure, table_path=bench.path, target_cols=bench.target_cols
    )
    config = sampler_config(load_study(write_study_file(mapping, measure / "study.yaml")).base_training)
    data = load_training_data(config)
    cold_dir = work_dir / f"feature-cache-{time.strftime('%Y%m%d-%H%M%S')}"
    first_step_config = config.model_copy(update={"output_dir": measure / "first-step"})
    trials = cache_trials(first_step_config, data, cold_dir, args.cache_trials)
    print(f"== cache: {[round(r['seconds'], 1) for r in trials]}", flush=True)
    featurize = featurize_timings(data[0], work_dir / f"{cold_dir.name}-direct")
    sampler = sampler_overhead(config, data, args.draw_epochs, measure / "epoch-time")
    print(f"== sampler overhead {sampler['overhead_fraction']:.2%}", flush=True)
    settings_text = "\n".join(
        [
            f"- command: `{' '.join(['python', 'benchmarks/cost_study.py', *sys.argv[1:]])}`",
            f"- pruning studies: quality-study arm `{ARM}` (`benchmarks/arms/`), {args.trials} trials x "
            f"{args.epochs} epochs, TPE seed 0 ({settings.n_startup_trials} random start trials), pruners "
            f"{args.pruners} (median: 2 start trials, 2 warm-up epochs; hyperband: the product's defaults "
            "derived from the epochs)",
            f"- data: a benchmark table made as the quality study's ({bench.rows['train']} train / "
            f"{bench.rows['val']} val / {bench.rows['test']} test records, training part "
            f"{bench.train_fraction:.0%})",
            clock.describe(args.threads),
        ]
    )
    return {
        "settings": settings_text,
        "pruning": pruning,
        "cache_trials": trials,
        "featurize": featurize,
        "sampler": sampler,
    }


def write_results(record: dict[str, Any], results_dir: Path) -> None:
    """``cost.md``, the CSV files and (default results folder) the README block."""
    results_dir.mkdir(parents=True, exist_ok=True)
    if record["pruning"]:
        rows = [{key: value for key, value in r.items() if key != "params"} for r in record["pruning"]]
        write_csv(results_dir / "cost_pruning.csv", rows)
    write_csv(results_dir / "cost_first_step.csv", record["cache_trials"])
    full, block = report(record)
    (results_dir / "cost.md").write_text(full, encoding="utf-8")
    if results_dir.resolve() == DEFAULT_RESULTS and replace_block(README, "cost_study", block):
        print(f"updated the cost block of {README}", flush=True)
    print(f"wrote {results_dir / 'cost.md'}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        write_results(json.loads(args.report_from.read_text(encoding="utf-8")), args.results_dir)
        return 0
    clock = Clock()
    record = run_cost_study(args, clock)
    saved = args.work_dir / "cost_record.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(f"saved the run record {saved} ({clock.minutes():.1f} min)", flush=True)
    write_results(record, args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
