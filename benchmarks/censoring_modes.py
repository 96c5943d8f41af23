"""Censored labels (issue 13): ``censored: loss`` vs ``drop`` vs ``as_exact`` on the multi-source data.

One training config, three values of ``censored``, the same seeds: every run trains the same small MPNN
(hidden 64, depth 2, FFN 64, batch 64, one warm-up epoch, plain shuffle: no sampler part on, so only the
handling of bounds differs) on the same benchmark table as the quality study (``adme_multisource``, its
scaffold split frozen into a split column, training part subsampled, validation and test untouched),
read with ``data.qualifier_cols: "{target} modifier"`` so its assay-limit values are bounds. Each run's
best checkpoint (lowest ``val_loss``; note ``val_loss`` is the mode's own loss) is scored on the test
split the same way for every mode: RMSE and R^2 over exact cells only, and the bound agreement (share of
predictions on the correct side) over the censored cells.

Run (from the repository root; about 9 minutes at the defaults on the shared 2-core machine):
    /work/main/.venv/bin/python benchmarks/censoring_modes.py --cache-dir runs/benchmarks/cache \\
        --data-dir ../shared/data
Writes ``censoring.md`` and ``censoring_runs.csv`` to ``--results-dir`` and, for the default results
folder, replaces the ``censoring_modes`` block of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_report import Clock, fmt, markdown_table, replace_block, write_csv

if TYPE_CHECKING:
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.training.run import TrainingResult
    from bench_data import BenchTable

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
MODES = ("loss", "drop", "as_exact")
MIN_TASK_BOUNDS = 20  # tasks with at least this many test bounds get their own rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults: about 9 minutes on the shared 2-core machine under load)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs per run")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per mode (trainer and sampler seed)")
    parser.add_argument("--train-fraction", type=float, default=0.4, help="as in the quality study")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated subset of loss,drop,as_exact"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="product cache (known tables, graphs)")
    parser.add_argument("--data-dir", type=Path, default=None, help="local source files, if not cached")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/benchmarks/censoring"), help="runs")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="tables")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when shared)")
    args = parser.parse_args(argv)
    args.modes = tuple(mode.strip() for mode in args.modes.split(",") if mode.strip())
    if args.epochs < 2 or args.seeds < 1 or not 0 < args.train_fraction <= 1:
        parser.error("need --epochs >= 2 (one is warm-up), --seeds >= 1 and 0 < --train-fraction <= 1")
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes: expected a subset of {','.join(MODES)}, got {','.join(args.modes)}")
    return args


def mode_config(bench: BenchTable, mode: str, seed: int, epochs: int, output_dir: Path) -> TrainingConfig:
    """The one training config of every run, with ``censored`` = ``mode`` and seed ``seed``."""
    from admet_hpo.config.training import TrainingConfig

    return TrainingConfig.model_validate(
        {
            "data": {
                "path": str(bench.path),
                "target_cols": list(bench.target_cols),
                "split_col": "split",
                "qualifier_cols": "{target} modifier",
            },
            "split": {"method": "column"},
            "model": {"message_hidden_dim": 64, "depth": 2, "ffn_hidden_dim": 64},
            "optim": {"warmup_epochs": 1},
            "trainer": {
                "max_epochs": epochs,
                "batch_size": 64,
                "accelerator": "cpu",
                "early_stopping_patience": None,
                "progress_bar": False,
                "seed": seed,
            },
            "sampling": {"seed": seed},
            "censored": mode,
            "output_dir": str(output_dir),
        }
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.fmean(finite) if finite else float("nan")


def run_row(mode: str, seed: int, result: TrainingResult, seconds: float) -> dict[str, Any]:
    """One run's test figures: task means over exact cells and the bound agreement (pooled by side)."""
    bounds = [b for b in result.test_bounds.values() if b.n_lt + b.n_gt]
    n_lt, n_gt = sum(b.n_lt for b in bounds), sum(b.n_gt for b in bounds)
    row = {
        "mode": mode,
        "seed": seed,
        "best_val_loss": result.best_val_loss,
        "test_mean_rmse": _mean([m.rmse for m in result.test_metrics.values()]),
        "test_mean_r2": _mean([m.r2 for m in result.test_metrics.values()]),
        "test_n_lt": n_lt,
        "test_n_gt": n_gt,
        "test_lt_agreement": sum(b.n_lt * b.lt_agreement for b in bounds if b.n_lt) / n_lt if n_lt else 0.0,
        "test_gt_agreement": sum(b.n_gt * b.gt_agreement for b in bounds if b.n_gt) / n_gt if n_gt else 0.0,
        "test_mean_bound_agreement": _mean([b.agreement for b in bounds]),
        "test_mean_excess": _mean([b.excess for b in bounds]),
        "seconds": seconds,
    }
    for task, metrics in result.test_metrics.items():
        row[f"{task}/rmse"] = metrics.rmse
        bound = result.test_bounds.get(task)
        row[f"{task}/n_bounds"] = bound.n_lt + bound.n_gt if bound else 0
        row[f"{task}/agreement"] = bound.agreement if bound else float("nan")
        row[f"{task}/excess"] = bound.excess if bound else float("nan")
    return row


def summary_rows(rows: list[dict[str, Any]], modes: Sequence[str]) -> list[list[Any]]:
    """Per mode: the seed mean of each figure, and its range over seeds."""
    keys = (
        "test_mean_rmse",
        "test_mean_r2",
        "test_lt_agreement",
        "test_gt_agreement",
        "test_mean_bound_agreement",
        "test_mean_excess",
    )
    table = []
    for mode in modes:
        runs = [row for row in rows if row["mode"] == mode]
        cells = []
        for key in keys:
            values = [run[key] for run in runs]
            spread = f" ({fmt(min(values))}–{fmt(max(values))})" if len(values) > 1 else ""
            cells.append(f"{fmt(_mean(values))}{spread}")
        table.append([f"`{mode}`", *cells, f"{_mean([run['seconds'] for run in runs]):.0f}"])
    return table


def task_rows(rows: list[dict[str, Any]], modes: Sequence[str], tasks: Sequence[str]) -> list[list[Any]]:
    """Per heavily censored task and mode: seed means of the exact-cell RMSE, the bound agreement and the
    wrong-side excess."""
    table = []
    for task in tasks:
        for mode in modes:
            runs = [row for row in rows if row["mode"] == mode]
            means = [
                _mean([run[f"{task}/{name}"] for run in runs]) for name in ("rmse", "agreement", "excess")
            ]
            table.append([task, f"`{mode}`", runs[0][f"{task}/n_bounds"], *means])
    return table


def report(rows: list[dict[str, Any]], modes: Sequence[str], settings: str) -> str:
    """The markdown block: settings, the per-mode summary and the heavily censored tasks."""
    tasks = [
        key.split("/")[0]
        for key, value in rows[0].items()
        if key.endswith("/n_bounds") and value >= MIN_TASK_BOUNDS
    ]
    summary = markdown_table(
        [
            "mode",
            "test RMSE (exact, task mean)",
            "test R² (exact, task mean)",
            "`<` agreement",
            "`>` agreement",
            "bound agreement (task mean)",
            "wrong-side excess (task mean)",
            "s / run",
        ],
        summary_rows(rows, modes),
    )
    per_task = markdown_table(
        ["task", "mode", "test bounds", "test RMSE (exact)", "bound agreement", "wrong-side excess"],
        task_rows(rows, modes, tasks),
        2,
    )
    return (
        f"{settings}\n\nSeed means (range over seeds in brackets); agreement pooled over all test bounds "
        f"by side (`<` {rows[0]['test_n_lt']} cells, `>` {rows[0]['test_n_gt']} cells); wrong-side excess: "
        "mean distance of a test prediction beyond its bound, 0 on the right side (log10 units):"
        f"\n\n{summary}\n\n"
        f"Tasks with at least {MIN_TASK_BOUNDS} test bounds:\n\n{per_task}\n"
    )


def run_modes(args: argparse.Namespace, clock: Clock) -> tuple[list[dict[str, Any]], str]:
    """Train every (seed, mode) run on one loaded table and split; the rows and the settings text."""
    import torch

    from admet_hpo.data.training_data import load_training_data
    from admet_hpo.training.run import train
    from bench_data import arms_bench_table

    torch.set_num_threads(args.threads)
    work_dir = args.work_dir.resolve()
    bench = arms_bench_table(args.cache_dir, args.data_dir, work_dir, args.train_fraction)
    data = load_training_data(mode_config(bench, "loss", 0, args.epochs, work_dir))
    rows = []
    for seed in range(args.seeds):
        for mode in args.modes:
            config = mode_config(bench, mode, seed, args.epochs, work_dir / f"{mode}-seed{seed}")
            started = time.perf_counter()
            result = train(config, data=data, progress_bar=False)
            rows.append(run_row(mode, seed, result, time.perf_counter() - started))
            print(
                f"== {mode} seed {seed}: {rows[-1]['test_mean_rmse']:.3f} RMSE, "
                f"{rows[-1]['test_mean_bound_agreement']:.3f} agreement, {rows[-1]['seconds']:.0f} s",
                flush=True,
            )
    settings = "\n".join(
        [
            f"- command: `{' '.join(['python', 'benchmarks/censoring_modes.py', *sys.argv[1:]])}`",
            f"- runs: modes {', '.join(args.modes)} x seeds 0..{args.seeds - 1}, {args.epochs} epochs each, "
            "hidden 64 / depth 2 / FFN 64, batch 64, plain shuffle, no early stopping",
            f"- data: the quality study's benchmark table ({bench.rows['train']} train / "
            f"{bench.rows['val']} val / {bench.rows['test']} test records, training part "
            f"{bench.train_fraction:.0%}), assay-limit values "
            'read as bounds (`data.qualifier_cols: "{target} modifier"`)',
            clock.describe(args.threads),
        ]
    )
    return rows, settings


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clock = Clock()
    rows, settings = run_modes(args, clock)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    write_csv(args.results_dir / "censoring_runs.csv", rows)
    block = report(rows, args.modes, settings)
    (args.results_dir / "censoring.md").write_text(
        "# Censored-label modes (generated by benchmarks/censoring_modes.py)\n\n" + block, encoding="utf-8"
    )
    if args.results_dir.resolve() == DEFAULT_RESULTS and replace_block(README, "censoring_modes", block):
        print(f"updated the censoring_modes block of {README}", flush=True)
    print(f"wrote {args.results_dir / 'censoring.md'} ({clock.minutes():.1f} min)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
