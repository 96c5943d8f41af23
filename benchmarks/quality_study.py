"""Model quality evidence (issue 11): does a tuned study beat chemprop's defaults, at real model size?

Five arms on the Biogen ADME set (known set ``biogen_adme``: six sparse endpoints; the product's scaffold
split 80/10/10, seed 0, frozen into a split column so every arm sees the same rows), side by side:

a. ``chemprop_cli``: ``chemprop train`` with its defaults (MPNN hidden 300, depth 3, FFN 300 x 1, batch 64,
   warm-up 2 epochs, learning rates 1e-4 / 1e-3 / 1e-4), ``--epochs E``, its best-validation model;
b. ``hpo_defaults``: ``hpo train`` of the same defaults (plain shuffle, sampler off);
c. ``tuned_uniform``: a study over ``search_spaces/model.yaml`` (hidden 128-512, depth 2-6, FFN width and
   depth, dropout, peak learning rate, batch size), sampler off;
d. ``tuned_joint``: (c) plus the joint sampler (task oversampling alpha, curriculum patience over the
   high / low (censored) labels, condition shares of condition-balanced batches: ``evidence/``);
e. ``tuned_joint_descriptors``: (d) plus a choice of molecule descriptors (none, RDKit 2D, Morgan counts).

Every tuned arm has the same budget (trials x ``max_epochs``), TPE (seed 0), Hyperband pruning, and the
defaults of (b) as its base config, which the study trains first (the baseline trial). Each arm's final
config (the defaults for a and b, the best trial's for c-e) is trained with every seed (``trainer.seed`` =
``sampling.seed`` = s; chemprop ``--pytorch-seed s``; the split stays fixed) and scored on the test rows:
per-endpoint Pearson r, Spearman rho, MAE, RMSE and R^2, mean ± sd over seeds, and verdicts that say
whether the mean ± sd intervals overlap. Independent trainings and searches run in ``--jobs`` processes
(one torch thread each: two jobs on two cores).

Run (repository root; the known table must be cached or ``--data-dir`` must hold the Biogen file):
    python benchmarks/quality_study.py --cache-dir runs/benchmarks/cache --data-dir ../shared/data
``--scale tiny`` is a smoke run (minutes); ``--scale large`` a bigger search for bigger machines;
``--trials``, ``--epochs``, ``--seeds``, ``--arms`` override a preset. Writes ``model_quality.md`` and CSV
files to ``--results-dir`` and, for the default folder, the ``model_quality`` block of the README.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_arms import write_study_file
from bench_data import BenchTable, prepare_bench_table, use_cache_dir
from bench_eval import METRICS, TaskScore, mean_sd, task_mean, verdict
from bench_report import Clock, fmt, markdown_table, replace_block, save_record, write_csv

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
EVIDENCE_DIR = BENCH_DIR / "evidence"
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
DATASET = "biogen_adme"
ARMS = ("chemprop_cli", "hpo_defaults", "tuned_uniform", "tuned_joint", "tuned_joint_descriptors")
TUNED_SPACES = {
    "tuned_uniform": [REPO_DIR / "search_spaces" / "model.yaml"],
    "tuned_joint": [REPO_DIR / "search_spaces" / "model.yaml", EVIDENCE_DIR / "joint_biogen.yaml"],
    "tuned_joint_descriptors": [
        REPO_DIR / "search_spaces" / "model.yaml",
        EVIDENCE_DIR / "joint_biogen.yaml",
        EVIDENCE_DIR / "descriptors.yaml",
    ],
}
"""Search spaces of the tuned arms; the other two arms train the defaults."""
REFERENCE = "chemprop_cli"
"""The arm every verdict compares with: what a user gets from chemprop alone."""
REPORTED = ("pearson_r", "spearman_rho", "mae")
"""Metrics of the per-endpoint tables (the ones ADMET papers and challenges compare)."""


@dataclass(frozen=True)
class Preset:
    """A run size: trials per tuned arm, maximum epochs per training, seeds, training fraction."""

    trials: int
    epochs: int
    seeds: int
    train_fraction: float = 1.0


PRESETS = {
    "tiny": Preset(trials=2, epochs=3, seeds=1, train_fraction=0.1),
    "default": Preset(trials=6, epochs=20, seeds=2),  # ran in 78.5 min here (2026-12-02)
    "large": Preset(trials=30, epochs=50, seeds=5),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; a preset fills every size option the user did not give."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(PRESETS), default="default", help="size preset")
    parser.add_argument("--trials", type=int, help="trials per tuned arm (the baseline trial included)")
    parser.add_argument("--epochs", type=int, help="maximum epochs of every training (>= 3)")
    parser.add_argument("--seeds", type=int, help="seeds of each arm's final configuration")
    parser.add_argument("--train-fraction", type=float, help="share of the training part used (0, 1]")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (1 torch thread each)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="product cache (known tables, graphs)")
    parser.add_argument("--data-dir", type=Path, default=None, help="local source files, if not cached")
    parser.add_argument("--work-dir", type=Path, help="default runs/benchmarks/model-quality-<scale>")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="tables and CSV files")
    parser.add_argument("--report-from", type=Path, help="only rewrite the report from a saved record")
    args = parser.parse_args(argv)
    preset = PRESETS[args.scale]
    for name in ("trials", "epochs", "seeds", "train_fraction"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(preset, name))
    if args.work_dir is None:
        args.work_dir = Path("runs/benchmarks") / f"model-quality-{args.scale}"
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (two warm-up epochs plus one more)")
    if args.trials < 1 or args.seeds < 1:
        parser.error("--trials and --seeds must be at least 1")
    if not 1 <= args.jobs <= max(1, os.cpu_count() or 1):
        parser.error(f"--jobs must be between 1 and the machine's {os.cpu_count()} cores")
    if not 0.0 < args.train_fraction <= 1.0:
        parser.error("--train-fraction must be in (0, 1]")
    return args


# --- configs -----------------------------------------------------------------------------------------


def split_config() -> Any:
    """The known set with the product's scaffold split: what the benchmark table freezes."""
    from admet_hpo.config.training import TrainingConfig

    return TrainingConfig.model_validate(
        {"data": {"dataset": DATASET}, "split": {"method": "scaffold", "sizes": [0.8, 0.1, 0.1], "seed": 0}}
    )


def default_training(bench: BenchTable, epochs: int, output_dir: Path) -> dict[str, Any]:
    """chemprop's default MPNN and optimiser on the frozen table: arm (b), and the tuned arms' base."""
    return {
        "data": {"path": str(bench.path), "target_cols": list(bench.target_cols), "split_col": "split"},
        "split": {"method": "column"},
        "model": {"message_hidden_dim": 300, "depth": 3, "ffn_hidden_dim": 300, "ffn_num_layers": 1},
        "optim": {"warmup_epochs": 2, "init_lr": 1e-4, "max_lr": 1e-3, "final_lr": 1e-4},
        "trainer": {
            "max_epochs": epochs,
            "batch_size": 64,
            "accelerator": "cpu",
            "early_stopping_patience": None,
            "progress_bar": False,
            "seed": 0,
        },
        "sampling": {"seed": 0},
        "output_dir": str(output_dir),
    }


def study_mapping(arm: str, bench: BenchTable, trials: int, epochs: int, output_dir: Path) -> dict[str, Any]:
    """The study file of tuned arm ``arm``: the defaults as base, the arm's spaces, Hyperband, TPE."""
    training = default_training(bench, epochs, output_dir / "train")
    if arm != "tuned_uniform":
        training["sampling"] = {
            "seed": 0,
            "task_oversampling": {"enabled": True},
            "curriculum": {"enabled": True, "qualities": ["high", "low"]},
            "batches": {"condition_balanced": True},
        }
    return {
        "name": f"quality-{arm}",
        "description": f"benchmarks/quality_study.py arm {arm}",
        "search_spaces": [str(path) for path in TUNED_SPACES[arm]],
        "training": training,
        "metric": "val_loss",
        "direction": "minimize",
        "sampler": {"type": "tpe", "seed": 0, "args": {"n_startup_trials": max(1, trials // 3)}},
        "pruner": {"type": "hyperband"},
        "n_trials": trials,
        "output_dir": str(output_dir),
    }


def with_seed(config: Any, seed: int, output_dir: Path) -> Any:
    """``config`` with model and sampler seeds ``seed`` and its own output folder."""
    return config.model_copy(
        update={
            "trainer": config.trainer.model_copy(update={"seed": seed}),
            "sampling": config.sampling.model_copy(update={"seed": seed}),
            "output_dir": output_dir,
        }
    )


# --- jobs (each runs in a worker process) ------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every job needs, picklable."""

    bench: BenchTable
    epochs: int
    trials: int
    work_dir: Path
    cache_dir: Path


@dataclass
class Outcome:
    """One finished job: a seeded training scored on test, or a tuned arm's search."""

    arm: str
    kind: str  # "train" or "search"
    seed: int = 0
    minutes: float = 0.0
    scores: list[TaskScore] = field(default_factory=list)
    epochs_run: int = 0
    best_values: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    best_value: float = math.nan


def _prepare_process(context: Context) -> None:
    import torch

    use_cache_dir(context.cache_dir)
    torch.set_num_threads(1)


def chemprop_cli(context: Context, seed: int) -> Outcome:
    """Arm (a): the ``chemprop train`` CLI with its defaults; its saved model scored on the test rows."""
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.data.training_data import load_training_data
    from bench_eval import predict_test_split, score_predictions

    _prepare_process(context)
    bench, out = context.bench, context.work_dir / "chemprop_cli" / f"seed-{seed}"
    chemprop = Path(sys.executable).with_name("chemprop")
    command = [str(chemprop), "train", "-i", str(bench.path), "-s", "smiles", "--target-columns"]
    command += [*bench.target_cols, "--splits-column", "split", "--epochs", str(context.epochs)]
    command += ["--pytorch-seed", str(seed), "--accelerator", "cpu", "--num-workers", "0", "-o", str(out)]
    started = time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"chemprop train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    model_path = next(out.rglob("best*.pt"))
    config = TrainingConfig.model_validate(default_training(bench, context.epochs, out / "unused"))
    table, split = load_training_data(config)
    scores = score_predictions(*predict_test_split(model_path, table, split), table.target_names)
    return Outcome(
        "chemprop_cli", "train", seed, (time.perf_counter() - started) / 60, scores, context.epochs
    )


def train_seeded(context: Context, arm: str, seed: int, values: dict[str, Any] | None) -> Outcome:
    """Arms (b)-(e): ``hpo``'s training of the defaults (``values`` None) or of a tuned arm's best values,
    scored by the run's own test metrics of its best-validation epoch."""
    from admet_hpo.config.study import load_study
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.search.space import apply_parameters
    from admet_hpo.training.run import train
    from bench_eval import scores_from_metrics

    _prepare_process(context)
    out = context.work_dir / arm / "final" / f"seed-{seed}"
    if values is None:
        config = TrainingConfig.model_validate(default_training(context.bench, context.epochs, out))
    else:
        study = load_study(context.work_dir / arm / "study.yaml")
        config = apply_parameters(study.base_training, study.space, values)
    started = time.perf_counter()
    result = train(with_seed(config, seed, out), progress_bar=False)
    minutes = (time.perf_counter() - started) / 60
    return Outcome(arm, "train", seed, minutes, scores_from_metrics(result.test_metrics), result.epochs_run)


def search(context: Context, arm: str) -> Outcome:
    """Arms (c)-(e): the tuned arm's study, run in this process with the product's runner."""
    from admet_hpo.config.study import load_study
    from admet_hpo.orchestration.runner import prepare_study, run_worker
    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.search.space import values_from_params

    _prepare_process(context)
    folder = context.work_dir / arm
    mapping = study_mapping(arm, context.bench, context.trials, context.epochs, folder)
    study = load_study(write_study_file(mapping, folder / "study.yaml"))
    started = time.perf_counter()
    with StudySession(study) as session:
        optuna_study = prepare_study(session)
        run_worker(session, n_trials=study.n_trials, timeout=None)
    best = optuna_study.best_trial
    trials = [
        {
            "arm": arm,
            "trial": t.number,
            "state": t.state.name,
            "value": math.nan if t.value is None else float(t.value),
            "epochs": int(t.user_attrs.get("epochs_run", 0)),
            "params": json.dumps(t.params, sort_keys=True),
        }
        for t in optuna_study.get_trials(deepcopy=False)
    ]
    return Outcome(
        arm,
        "search",
        minutes=(time.perf_counter() - started) / 60,
        best_values=values_from_params(study.space, best.params),
        trials=trials,
        best_value=float(best.value),
    )


def run_jobs(calls: list[tuple[Any, ...]], jobs: int) -> list[Outcome]:
    """Run ``(function, *arguments)`` calls in ``jobs`` fresh (spawned) processes, results in call order."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(*call) for call in calls]
        outcomes = []
        for future in futures:
            outcomes.append(future.result())
            done = outcomes[-1]
            print(f"== {done.arm} {done.kind} seed {done.seed}: {done.minutes:.1f} min", flush=True)
    return outcomes


# --- report --------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """Everything the report needs, saved as JSON (``--report-from`` rewrites the report from it)."""

    command: str
    scale: str
    trials: int
    epochs: int
    seeds: int
    machine: str
    bench: dict[str, Any]
    searches: list[Outcome]
    trainings: list[Outcome]

    def save(self, path: Path) -> Path:
        return save_record(self, path)

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        payload = json.loads(path.read_text(encoding="utf-8"))
        for key in ("searches", "trainings"):
            payload[key] = [
                Outcome(**{**o, "scores": [TaskScore(**s) for s in o["scores"]]}) for o in payload[key]
            ]
        return cls(**payload)

    def arms(self) -> list[str]:
        return [arm for arm in ARMS if any(t.arm == arm for t in self.trainings)]


def per_arm(trainings: list[Outcome], metric: str, task: str | None) -> dict[str, tuple[float, float]]:
    """arm -> (mean, sd) over seeds of ``metric`` on ``task`` (None: the mean over tasks)."""
    values: dict[str, list[float]] = {}
    for run in trainings:
        tasks = None if task is None else [task]
        values.setdefault(run.arm, []).append(task_mean(run.scores, metric, tasks))
    return {arm: mean_sd(v) for arm, v in values.items()}


def pm(pair: tuple[float, float]) -> str:
    return f"{fmt(pair[0])} ± {fmt(pair[1])}"


def summary_table(record: RunRecord) -> str:
    """Arms x task means of every metric (mean ± sd over seeds)."""
    columns = {metric: per_arm(record.trainings, metric, None) for metric in METRICS}
    rows = [[arm, *(pm(columns[metric][arm]) for metric in METRICS)] for arm in record.arms()]
    return markdown_table(["arm", *(f"mean {metric}" for metric in METRICS)], rows)


def endpoint_tables(record: RunRecord) -> str:
    """One table per reported metric: endpoints x arms, mean ± sd over seeds."""
    tables = []
    for metric in REPORTED:
        rows = []
        for task in record.bench["target_cols"]:
            values = per_arm(record.trainings, metric, task)
            n_test = record.bench["labels"]["test"][task]
            rows.append([task, n_test, *(pm(values[arm]) for arm in record.arms())])
        header = ["endpoint", "n test", *record.arms()]
        tables.append(f"#### Test {metric} per endpoint\n\n" + markdown_table(header, rows))
    return "\n\n".join(tables)


def value_text(value: Any) -> str:
    """A parameter value as table text: floats to 3 significant digits, simplex shares as ``{key:share}``."""
    if isinstance(value, dict):
        return "{" + " ".join(f"{key}:{share:.2f}" for key, share in value.items()) + "}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def search_table(record: RunRecord) -> str:
    """Per tuned arm: trials by state, epochs trained, best val_loss, minutes, best values."""
    rows = []
    for s in record.searches:
        states = [t["state"] for t in s.trials]
        values = ", ".join(f"{k}={value_text(v)}" for k, v in s.best_values.items())
        epochs = sum(t["epochs"] for t in s.trials)
        rows.append(
            [s.arm, states.count("COMPLETE"), states.count("PRUNED"), epochs, s.best_value, s.minutes]
        )
        rows[-1].append(values)
    header = ["arm", "complete", "pruned", "epochs trained", "best val_loss", "minutes", "best values"]
    return markdown_table(header, rows)


def verdicts(record: RunRecord) -> list[str]:
    """Who wins on the task means of Pearson r, Spearman rho and MAE, against chemprop's CLI."""
    return [
        verdict(
            per_arm(record.trainings, metric, None), metric, f"mean test {metric} over endpoints", [REFERENCE]
        )
        for metric in REPORTED
    ]


def budget_caveat(record: RunRecord) -> str:
    """What this budget cannot tell."""
    return (
        f"What this budget cannot tell: {record.trials} trials per tuned arm explore a 7-to-12-dimensional "
        f"space thinly, so a tuned arm that does not beat the defaults says little about what a 100-trial "
        f"study finds; {record.seeds} seed(s) give a rough spread only (intervals, not tests); one scaffold "
        "split of one data set."
    )


def report(record: RunRecord) -> tuple[str, str]:
    """The full markdown report and the README block."""
    bench = record.bench
    rows = bench["rows"]
    settings = "\n".join(
        [
            f"- command: `{record.command}`",
            f"- size: {record.trials} trials per tuned arm (trial 0 = the defaults), at most {record.epochs} "
            f"epochs per training, Hyperband pruning, TPE seed 0; final configs trained with seeds "
            f"1..{record.seeds} (scale `{record.scale}`)",
            f"- data: `{DATASET}`, scaffold split (seed 0, 80/10/10) frozen into a split column, training "
            f"part {bench['train_fraction']:.0%}: {rows['train']} train / {rows['val']} val / "
            f"{rows['test']} test records",
            record.machine,
        ]
    )
    verdict_text = "\n".join(f"- {sentence}" for sentence in [*verdicts(record), budget_caveat(record)])
    parts = [
        settings,
        "Verdicts (against chemprop's CLI defaults):\n\n" + verdict_text,
        "Test metrics, task means, mean ± sd over seeds:\n\n" + summary_table(record),
        "Searches:\n\n" + search_table(record),
    ]
    full = "\n\n".join(
        [
            "# Model quality evidence (generated by benchmarks/quality_study.py)",
            *parts,
            endpoint_tables(record),
        ]
    )
    block = "\n\n".join([*parts, endpoint_tables(record), "Raw numbers: `results/model_quality_scores.csv`."])
    return full + "\n", block


def write_results(record: RunRecord, results_dir: Path) -> None:
    """CSV files and ``model_quality.md``; the README block too for the default results folder."""
    results_dir.mkdir(parents=True, exist_ok=True)
    write_csv(
        results_dir / "model_quality_scores.csv",
        [{"arm": r.arm, "seed": r.seed, **asdict(score)} for r in record.trainings for score in r.scores],
    )
    write_csv(results_dir / "model_quality_trials.csv", [row for s in record.searches for row in s.trials])
    full, block = report(record)
    (results_dir / "model_quality.md").write_text(full, encoding="utf-8")
    if results_dir.resolve() == DEFAULT_RESULTS and replace_block(README, "model_quality", block):
        print(f"updated the model_quality block of {README}", flush=True)
    print(f"wrote {results_dir / 'model_quality.md'}", flush=True)


# --- main ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, clock: Clock) -> RunRecord:
    """Freeze the table, run the searches and the default trainings, then train the tuned finals."""
    work_dir = args.work_dir.resolve()
    cache_dir = use_cache_dir(args.cache_dir)
    bench = prepare_bench_table(
        split_config(),
        cache_dir=cache_dir,
        data_dir=args.data_dir,
        out_dir=work_dir / "data",
        train_fraction=args.train_fraction,
    )
    print(f"benchmark table {bench.path}: {bench.rows}", flush=True)
    context = Context(bench, args.epochs, args.trials, work_dir, cache_dir)
    seeds = range(1, args.seeds + 1)
    tuned = [arm for arm in args.arms if arm in TUNED_SPACES]
    first: list[tuple[Any, ...]] = [(search, context, arm) for arm in tuned]
    if "chemprop_cli" in args.arms:
        first += [(chemprop_cli, context, seed) for seed in seeds]
    if "hpo_defaults" in args.arms:
        first += [(train_seeded, context, "hpo_defaults", seed, None) for seed in seeds]
    outcomes = run_jobs(first, args.jobs)
    searches = [o for o in outcomes if o.kind == "search"]
    finals = [(train_seeded, context, s.arm, seed, s.best_values) for s in searches for seed in seeds]
    trainings = [o for o in outcomes if o.kind == "train"] + run_jobs(finals, args.jobs)
    return RunRecord(
        command=" ".join(["python", "benchmarks/quality_study.py", *sys.argv[1:]]),
        scale=args.scale,
        trials=args.trials,
        epochs=args.epochs,
        seeds=args.seeds,
        machine=clock.describe(1) + f"\n- jobs at once: {args.jobs}",
        bench=asdict(bench),
        searches=searches,
        trainings=trainings,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        write_results(RunRecord.load(args.report_from), args.results_dir)
        return 0
    clock = Clock()
    record = run(args, clock)
    saved = record.save(args.work_dir / "model_quality_record.json")
    print(f"saved the run record {saved} ({clock.minutes():.1f} min)", flush=True)
    write_results(record, args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
