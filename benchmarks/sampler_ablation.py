"""Quality study (issue 6): does tuning the joint sampler make better ADMET models?

Five arms, each a study of the product (``prepare_study`` + ``run_worker``: own SQLite storage and MLflow
store under ``<work-dir>/<arm>/``) with the same trial budget, epochs per trial, Optuna seed, pruner,
model search space and data (``adme_multisource``, scaffold split frozen into ``bench_data``'s table):

1. ``uniform``: plain shuffle, only the model and optimiser tuned;
2. ``task_oversampling``: task oversampling only (alpha tuned);
3. ``curriculum``: quality curriculum only (patience tuned);
4. ``batch_composition``: experiment-aware, leaky, condition-balanced batches (leaky, ratios tuned);
5. ``joint``: the full joint sampler, every knob of 2-4 tuned.

The best trial of each arm (lowest validation loss) is then retrained with ``--seeds`` fresh seeds
(``trainer.seed`` = ``sampling.seed`` = 1, 2, ...; the split stays fixed) and evaluated on the held-out
test split: per-task RMSE, MAE, R^2, Pearson r, the mean over tasks and over the PPB tasks, mean ± sd
over seeds. Writes ``quality.md``, CSV files and PNG plots to ``--results-dir`` and, for the default
results folder, replaces the quality block of ``benchmarks/README.md``.

Run (from the repository root; the data must be in the cache or ``--data-dir`` must hold the sources):
    /work/venv/bin/python benchmarks/sampler_ablation.py --cache-dir runs/benchmarks/cache \\
        --data-dir ../shared/data
``--scale tiny`` is a smoke run (minutes); ``--scale large`` a real search (hours); ``--trials``,
``--epochs``, ``--seeds`` and ``--train-fraction`` override any preset.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_arms import ARMS, RunSettings, compose_arm, write_study_file
from bench_data import PPB_TASKS, BenchTable
from bench_eval import METRICS, TaskScore, mean_sd, task_mean, verdict
from bench_report import Clock, fmt, markdown_table, replace_block, save_record, write_csv

if TYPE_CHECKING:
    from admet_hpo.config.study import Study
    from admet_hpo.data.table import MoleculeTable, SplitIndices

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
FOCUS = ("uniform", "joint")
"""Arms every verdict compares the winner with: the baseline and the full joint sampler."""


@dataclass(frozen=True)
class Preset:
    """A study size: trials per arm, epochs per trial, retraining seeds, training fraction, model space."""

    trials: int
    epochs: int
    seeds: int
    train_fraction: float
    model_space: str


PRESETS = {
    "tiny": Preset(trials=2, epochs=2, seeds=1, train_fraction=0.1, model_space="small"),
    "default": Preset(trials=5, epochs=10, seeds=3, train_fraction=0.4, model_space="small"),
    "large": Preset(trials=40, epochs=30, seeds=5, train_fraction=1.0, model_space="full"),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; a preset fills every size option the user did not give."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(PRESETS), default="default", help="size preset")
    parser.add_argument("--trials", type=int, help="trials per arm")
    parser.add_argument("--epochs", type=int, help="epochs per trial and per retraining (>= 2)")
    parser.add_argument("--seeds", type=int, help="retraining seeds of each arm's best configuration")
    parser.add_argument("--train-fraction", type=float, help="share of the training split used (0, 1]")
    parser.add_argument("--model-space", choices=("small", "full"), help="model search space")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run")
    parser.add_argument("--cache-dir", type=Path, default=None, help="product cache (known tables, graphs)")
    parser.add_argument("--data-dir", type=Path, default=None, help="local source files, if not cached")
    parser.add_argument(
        "--work-dir", type=Path, help="studies, models, run record (default runs/benchmarks/quality-<scale>)"
    )
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="tables and plots")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when shared)")
    parser.add_argument(
        "--report-from", type=Path, help="only rewrite tables and plots from a saved quality_record.json"
    )
    args = parser.parse_args(argv)
    preset = PRESETS[args.scale]
    for name in ("trials", "epochs", "seeds", "train_fraction", "model_space"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(preset, name))
    if args.work_dir is None:
        args.work_dir = Path("runs/benchmarks") / f"quality-{args.scale}"
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (one warmup epoch plus one more)")
    if args.trials < 1 or args.seeds < 1:
        parser.error("--trials and --seeds must be at least 1")
    if not 0.0 < args.train_fraction <= 1.0:
        parser.error("--train-fraction must be in (0, 1]")
    return args


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The settings every arm shares in this run."""
    return RunSettings(n_trials=args.trials, epochs=args.epochs, model_space=args.model_space)


@dataclass
class ArmSearch:
    """One arm's finished study."""

    arm: str
    trials: list[dict[str, Any]]
    best_values: dict[str, Any]
    best_number: int
    best_value: float
    best_output_dir: str
    minutes: float


@dataclass
class SeedRun:
    """One retraining of an arm's best configuration, scored on the test split."""

    arm: str
    seed: int
    scores: list[TaskScore]
    minutes: float


def trial_rows(arm: str, optuna_study: Any) -> list[dict[str, Any]]:
    """One row per trial: state, value (last reported value when pruned), epochs, duration, params."""
    rows = []
    for trial in optuna_study.get_trials(deepcopy=False):
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        duration = trial.duration.total_seconds() if trial.duration is not None else math.nan
        rows.append(
            {
                "arm": arm,
                "trial": trial.number,
                "state": trial.state.name,
                "value": math.nan if value is None else float(value),
                "epochs": int(trial.user_attrs.get("epochs_run", 0)),
                "seconds": round(duration, 1),
                "params": json.dumps(trial.params, sort_keys=True),
            }
        )
    return rows


def search_arm(arm: str, settings: RunSettings, work_dir: Path, bench: BenchTable) -> tuple[Study, ArmSearch]:
    """Write the arm's study file, create the study once and run its trials in this process."""
    from admet_hpo.config.study import load_study
    from admet_hpo.orchestration.runner import prepare_study, run_worker
    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.search.space import values_from_params

    mapping = compose_arm(
        arm, settings, output_dir=work_dir / arm, table_path=bench.path, target_cols=bench.target_cols
    )
    study = load_study(write_study_file(mapping, work_dir / arm / "study.yaml"))
    session = StudySession(study)
    started = time.perf_counter()
    optuna_study = prepare_study(session)

    def observe(number: int, epoch: int, metrics: dict[str, float]) -> None:
        elapsed = (time.perf_counter() - started) / 60
        print(
            f"  [{arm}] trial {number} epoch {epoch} val_loss {metrics.get('val_loss', math.nan):.4f} "
            f"({elapsed:.1f} min)",
            flush=True,
        )

    run_worker(session, n_trials=study.n_trials, timeout=None, observer=observe)
    best = optuna_study.best_trial
    return study, ArmSearch(
        arm=arm,
        trials=trial_rows(arm, optuna_study),
        best_values=values_from_params(study.space, best.params),
        best_number=best.number,
        best_value=float(best.value),
        best_output_dir=str(best.user_attrs["output_dir"]),
        minutes=(time.perf_counter() - started) / 60,
    )


def retrain(
    study: Study, search: ArmSearch, seed: int, data: tuple[MoleculeTable, SplitIndices], work_dir: Path
) -> SeedRun:
    """Train the arm's best configuration with ``seed`` (model and sampler) and score it on test."""
    from admet_hpo.search.space import apply_parameters
    from admet_hpo.training.run import train
    from bench_eval import predict_test_split, score_predictions

    config = apply_parameters(study.base_training, study.space, search.best_values)
    config = config.model_copy(
        update={
            "trainer": config.trainer.model_copy(update={"seed": seed, "progress_bar": False}),
            "sampling": config.sampling.model_copy(update={"seed": seed}),
            "output_dir": work_dir / search.arm / "retrain" / f"seed-{seed}",
        }
    )
    started = time.perf_counter()
    result = train(config, data=data, progress_bar=False)
    y_true, y_pred = predict_test_split(result.model_path, *data)
    scores = score_predictions(y_true, y_pred, result.task_names)
    for score in scores:  # the saved model must reproduce the run's own test metrics
        reference = result.test_metrics[score.task].rmse
        if not math.isclose(score.rmse, reference, rel_tol=1e-4, abs_tol=1e-6):
            raise RuntimeError(f"{search.arm} seed {seed} {score.task}: RMSE {score.rmse} != {reference}")
    return SeedRun(search.arm, seed, scores, (time.perf_counter() - started) / 60)


def summarise(
    runs: list[SeedRun], metric: str, tasks: Sequence[str] | None
) -> dict[str, tuple[float, float]]:
    """arm -> (mean, sd) over seeds of the task-mean of ``metric`` over ``tasks`` (None = all)."""
    by_arm: dict[str, list[float]] = {}
    for run in runs:
        by_arm.setdefault(run.arm, []).append(task_mean(run.scores, metric, tasks))
    return {arm: mean_sd(values) for arm, values in by_arm.items()}


def per_task(runs: list[SeedRun], metric: str) -> dict[str, dict[str, tuple[float, float]]]:
    """arm -> task -> (mean, sd) over seeds of ``metric``."""
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for score in run.scores:
            values.setdefault(run.arm, {}).setdefault(score.task, []).append(getattr(score, metric))
    return {arm: {task: mean_sd(v) for task, v in tasks.items()} for arm, tasks in values.items()}


def pm(pair: tuple[float, float]) -> str:
    """``mean ± sd`` as table text."""
    return f"{fmt(pair[0])} ± {fmt(pair[1])}"


def write_plots(
    results_dir: Path, searches: list[ArmSearch], runs: list[SeedRun], tasks: Sequence[str]
) -> list[str]:
    """The three figures; returns their file names."""
    import plots

    names = []
    panels = [
        ("test RMSE (mean ± sd over seeds)", per_task(runs, "rmse")),
        ("test Pearson r", per_task(runs, "pearson_r")),
    ]
    plots.task_bars(results_dir / "quality_task_bars.png", panels, tasks)
    names.append("quality_task_bars.png")
    history = {
        s.arm: [plots.TrialPoint(t["trial"], t["state"], t["value"]) for t in s.trials] for s in searches
    }
    plots.optimisation_history(results_dir / "quality_history.png", history, "validation loss")
    names.append("quality_history.png")
    joint = next((s for s in searches if s.arm == "joint"), None)
    metrics_file = None if joint is None else Path(joint.best_output_dir) / "metrics.json"
    if metrics_file is not None and metrics_file.is_file():
        epochs = json.loads(metrics_file.read_text(encoding="utf-8"))["history"]
        title = f"Best joint trial (#{joint.best_number}): expected draw shares per epoch"
        plots.sampler_shares(results_dir / "quality_sampler_shares.png", epochs, title)
        names.append("quality_sampler_shares.png")
    return names


def verdicts(runs: list[SeedRun], focus: Sequence[str]) -> list[str]:
    """Who wins on the task means of RMSE and R^2, over all tasks and over the PPB tasks."""
    figures = [
        ("rmse", None, "mean test RMSE over tasks"),
        ("r2", None, "mean test R² over tasks"),
        ("rmse", PPB_TASKS, "mean test RMSE over the PPB tasks"),
        ("r2", PPB_TASKS, "mean test R² over the PPB tasks"),
    ]
    return [verdict(summarise(runs, metric, tasks), metric, what, focus) for metric, tasks, what in figures]


def summary_table(runs: list[SeedRun], arms: Sequence[str]) -> str:
    """Per arm: task means of every metric, and of RMSE / R^2 / r over the PPB tasks (mean ± sd)."""
    columns = [(m, None, f"mean {m}") for m in METRICS]
    columns += [(m, PPB_TASKS, f"PPB {m}") for m in ("rmse", "r2", "pearson_r")]
    summaries = [summarise(runs, metric, tasks) for metric, tasks, _ in columns]
    rows = [[arm, *(pm(summary[arm]) for summary in summaries)] for arm in arms]
    return markdown_table(["arm", *(label for _, _, label in columns)], rows)


def format_values(values: dict[str, Any]) -> str:
    """A trial's applied values as compact text (simplex shares as ``{key:share ...}``)."""

    def one(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + " ".join(f"{k}:{v:.2f}" for k, v in value.items()) + "}"
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{name}={one(value)}" for name, value in values.items())


def search_table(searches: list[ArmSearch]) -> str:
    """Per arm: trials by state, epochs trained, best validation loss, wall time, best parameters."""
    rows = [
        [
            f"{k}. {s.arm}",
            sum(t["state"] == "COMPLETE" for t in s.trials),
            sum(t["state"] == "PRUNED" for t in s.trials),
            sum(t["epochs"] for t in s.trials),
            s.best_value,
            f"{s.minutes:.1f}",
            format_values(s.best_values),
        ]
        for k, s in enumerate(searches, start=1)
    ]
    header = ["arm", "complete", "pruned", "epochs trained", "best val_loss", "minutes", "best parameters"]
    return markdown_table(header, rows)


def per_task_tables(runs: list[SeedRun], arms: Sequence[str], bench: BenchTable) -> str:
    """One table per metric: tasks x arms, mean ± sd over seeds, with the test label count."""
    tables = []
    for metric in METRICS:
        values = per_task(runs, metric)
        rows = [
            [task, bench.labels["test"][task], *(pm(values[arm][task]) for arm in arms)]
            for task in bench.target_cols
        ]
        tables.append(f"#### Test {metric} per task\n\n" + markdown_table(["task", "n test", *arms], rows))
    return "\n\n".join(tables)


@dataclass
class RunRecord:
    """Everything the report needs, saved as JSON (``--report-from`` rewrites the report from it)."""

    command: str
    scale: str
    trials: int
    epochs: int
    model_space: str
    n_startup_trials: int
    machine: str
    bench: dict[str, Any]
    searches: list[ArmSearch]
    runs: list[SeedRun]

    def save(self, path: Path) -> Path:
        return save_record(self, path)

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        payload = json.loads(path.read_text(encoding="utf-8"))
        payload["searches"] = [ArmSearch(**search) for search in payload["searches"]]
        payload["runs"] = [
            SeedRun(run["arm"], run["seed"], [TaskScore(**score) for score in run["scores"]], run["minutes"])
            for run in payload["runs"]
        ]
        return cls(**payload)

    def table(self) -> BenchTable:
        return BenchTable(**{**self.bench, "path": Path(self.bench["path"])})


def settings_text(record: RunRecord) -> str:
    """The command, sizes, data and machine of the run as a markdown list."""
    bench = record.table()
    if bench.train_fraction < 1:
        train_part = f"training part subsampled to {bench.train_fraction:.0%} of its records (seed 0)"
    else:
        train_part = "complete training part"
    seeds = ", ".join(str(seed) for seed in sorted({run.seed for run in record.runs}))
    return "\n".join(
        [
            f"- command: `{record.command}`",
            f"- size: {record.trials} trials per arm x {record.epochs} epochs (scale `{record.scale}`), "
            f"model space `{record.model_space}`, TPE (seed 0, {record.n_startup_trials} random start "
            "trials), median pruner (2 start trials, 2 warm-up epochs)",
            f"- retraining seeds {seeds} (trainer.seed = sampling.seed; the split stays fixed); test "
            "metrics of each run's best-validation-loss epoch",
            f"- data: `adme_multisource`, scaffold split (seed 0, 80/10/10) frozen into a split column, "
            f"{train_part}: {bench.rows['train']} train / {bench.rows['val']} val / "
            f"{bench.rows['test']} test records",
            record.machine,
        ]
    )


def report(record: RunRecord, figures: list[str]) -> tuple[str, str]:
    """The full markdown report (``quality.md``) and the shorter README block."""
    bench, searches, runs = record.table(), record.searches, record.runs
    arms = [s.arm for s in searches]
    settings = settings_text(record)
    verdict_text = "\n".join(f"- {sentence}" for sentence in verdicts(runs, FOCUS))
    summary = summary_table(runs, arms)
    searched = search_table(searches)
    labels = markdown_table(
        ["task", "train labels", "val labels", "test labels"],
        [
            [task, *(bench.labels[part][task] for part in ("train", "val", "test"))]
            for task in bench.target_cols
        ],
    )
    full = "\n\n".join(
        [
            "# Quality study results (generated by benchmarks/sampler_ablation.py)",
            settings,
            "## Verdict\n\n" + verdict_text,
            "## Test metrics, mean ± sd over seeds (task means; PPB = hPPB, rPPB, dPPB, mPPB)\n\n" + summary,
            "## Searches\n\n" + searched,
            "## Per task\n\n" + per_task_tables(runs, arms, bench),
            "## Labels per task\n\n" + labels,
            "## Plots\n\n" + "\n\n".join(f"![{name}]({name})" for name in figures),
        ]
    )
    block = "\n\n".join(
        [
            settings,
            verdict_text,
            summary,
            searched,
            "\n\n".join(f"![{name}](results/{name})" for name in figures),
            "Per-task tables (RMSE, MAE, R², r) and label counts: "
            "[`results/quality.md`](results/quality.md); raw numbers: `results/quality_trials.csv`, "
            "`results/quality_test_scores.csv`.",
        ]
    )
    return full + "\n", block


def run_study(args: argparse.Namespace, clock: Clock) -> RunRecord:
    """Prepare the data, search every arm, retrain each arm's best configuration with every seed."""
    import torch

    from admet_hpo.data.training_data import load_training_data
    from bench_data import arms_bench_table

    torch.set_num_threads(args.threads)
    settings = run_settings(args)
    work_dir = args.work_dir.resolve()
    bench = arms_bench_table(args.cache_dir, args.data_dir, work_dir, args.train_fraction)
    print(f"benchmark table {bench.path}: {bench.rows}", flush=True)
    studies, searches = [], []
    for arm in args.arms:
        print(f"== search: {arm}", flush=True)
        study, search = search_arm(arm, settings, work_dir, bench)
        studies.append(study)
        searches.append(search)
        print(
            f"== {arm}: best trial {search.best_number} val_loss {search.best_value:.4f} "
            f"in {search.minutes:.1f} min",
            flush=True,
        )
    data = load_training_data(studies[-1].base_training)
    runs = []
    for study, search in zip(studies, searches, strict=True):
        for seed in range(1, args.seeds + 1):
            runs.append(retrain(study, search, seed, data, work_dir))
            print(
                f"== retrain {search.arm} seed {seed}: mean test RMSE "
                f"{task_mean(runs[-1].scores, 'rmse'):.4f} ({runs[-1].minutes:.1f} min)",
                flush=True,
            )
    return RunRecord(
        command=" ".join(["python", "benchmarks/sampler_ablation.py", *sys.argv[1:]]),
        scale=args.scale,
        trials=args.trials,
        epochs=args.epochs,
        model_space=args.model_space,
        n_startup_trials=settings.n_startup_trials,
        machine=clock.describe(args.threads),
        bench=asdict(bench),
        searches=searches,
        runs=runs,
    )


def write_results(record: RunRecord, results_dir: Path) -> None:
    """CSV files, plots and ``quality.md``; the README block too for the default results folder."""
    results_dir.mkdir(parents=True, exist_ok=True)
    write_csv(results_dir / "quality_trials.csv", [row for s in record.searches for row in s.trials])
    write_csv(
        results_dir / "quality_test_scores.csv",
        [{"arm": r.arm, "seed": r.seed, **asdict(score)} for r in record.runs for score in r.scores],
    )
    figures = write_plots(results_dir, record.searches, record.runs, record.table().target_cols)
    full, block = report(record, figures)
    (results_dir / "quality.md").write_text(full, encoding="utf-8")
    if results_dir.resolve() == DEFAULT_RESULTS and replace_block(README, "sampler_ablation", block):
        print(f"updated the quality block of {README}", flush=True)
    print(f"wrote {results_dir / 'quality.md'}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_from is not None:
        write_results(RunRecord.load(args.report_from), args.results_dir)
        return 0
    clock = Clock()
    record = run_study(args, clock)
    saved = record.save(args.work_dir / "quality_record.json")
    print(f"saved the run record {saved} ({clock.minutes():.1f} min)", flush=True)
    write_results(record, args.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
