"""``hpo run``, ``worker``, ``status``, ``best``, ``export`` and ``replay``: a study's life cycle."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from admet_hpo.cli.console import console, error_console, quiet_libraries, stop_signals_interrupt, user_errors
from admet_hpo.cli.options import (  # noqa: F401 - STORAGE_ENV re-exported
    STORAGE_ENV,
    QuietOpt,
    StorageOpt,
    StudyArg,
    TimeoutOpt,
    TrialBudgetOpt,
    storage_override,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.orchestration.runner import RunSummary


def register(app: typer.Typer) -> None:
    """Add the study commands to ``app``."""
    for name, command in (
        ("run", run_command),
        ("worker", worker_command),
        ("status", status_command),
        ("best", best_command),
        ("export", export_command),
        ("replay", replay_command),
    ):
        app.command(name)(command)


def _print_summary(summary: RunSummary, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        console.file.write(json.dumps(asdict(summary)) + "\n")
        return
    s = summary
    best = "none completed" if s.best_number is None else f"trial {s.best_number} = {s.best_value:.6g}"
    console.print(
        f"[bold]{s.study_name}[/]: {s.complete} complete, {s.pruned} pruned, {s.failed} failed; best {best}"
    )


@user_errors
def run_command(
    study_file: Path = StudyArg,
    n_trials: int | None = TrialBudgetOpt,
    timeout: float | None = TimeoutOpt,
    storage: str | None = StorageOpt,
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes on this machine."),
    gpus_per_worker: int | None = typer.Option(
        None,
        "--gpus-per-worker",
        min=0,
        help="GPUs per worker, assigned round-robin (default: 1 when the machine has GPUs; 0 = none).",
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON line per trial, JSON summary."),
    quiet: bool = QuietOpt,
) -> None:
    """Create the study if needed and run trials until its budget (or --timeout) is spent.

    Running the same command again resumes: the budget counts finished trials already in the storage.
    """
    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.config.study import load_study
    from admet_hpo.errors import ConfigError
    from admet_hpo.orchestration.runner import (
        launch_workers,
        log_plots,
        prepare_study,
        remaining_trials,
        run_worker,
        summarize,
    )
    from admet_hpo.tracking.urls import mask_url
    from admet_hpo.training.devices import plan_devices

    if gpus_per_worker is not None and workers == 1:
        raise ConfigError(
            "--gpus-per-worker needs --workers 2 or more (one worker trains in this process, on the "
            "devices of trainer.devices)"
        )
    quiet_libraries()
    study = load_study(study_file)
    plan_devices(study.base_training.trainer)  # this machine runs the trials: refuse devices it lacks now
    budget = n_trials if n_trials is not None else study.n_trials
    time_limit = timeout if timeout is not None else study.timeout
    url = storage_override(storage) or study.storage
    optuna_study = prepare_study(study, url)
    mode = "json" if json_output else "quiet" if quiet else "live"
    if mode == "live":
        console.print(
            f"study [bold]{optuna_study.study_name}[/] on {mask_url(url)}; "
            f"{remaining_trials(optuna_study, budget) if budget else 'unbounded'} trial(s) to run, "
            f"tracking {mask_url(study.mlflow_tracking_uri)}"
        )
    if workers > 1 and url.startswith("sqlite"):
        error_console.print(
            "[yellow]warning:[/] several workers on SQLite serialise their writes; use PostgreSQL "
            "(postgresql+psycopg://...) for many workers"
        )
    try:
        with stop_signals_interrupt(), StudyProgress(console, budget, mode, optuna_study) as progress:
            if workers == 1:
                summary = run_worker(
                    study,
                    n_trials=budget,
                    timeout=time_limit,
                    storage_url=url,
                    observer=progress.on_epoch,
                    callbacks=(progress,),
                    trial_attrs=_placement_attrs(),
                )
            else:
                launch_workers(
                    study,
                    workers,
                    n_trials=budget,
                    timeout=time_limit,
                    storage_url=url,
                    gpus_per_worker=gpus_per_worker,
                    poll=lambda: _refresh_display(progress, optuna_study),
                )
                progress.sync(optuna_study)
                log_plots(study, optuna_study)
                summary = summarize(optuna_study)
    except KeyboardInterrupt:
        error_console.print("interrupted: the running trial was marked FAIL; run the same command to resume")
        raise typer.Exit(code=130) from None
    _close_parent_run(study, optuna_study, budget)
    if mode == "live":
        from admet_hpo.cli.progress import trials_table

        console.print(trials_table(optuna_study))
    _print_summary(summary, json_output)


def _placement_attrs() -> dict[str, object]:
    """Trial attributes saying where this process runs: SLURM array job and task, visible GPUs."""
    import os

    from admet_hpo.orchestration.gpus import gpu_trial_attrs
    from admet_hpo.orchestration.slurm import slurm_trial_attrs

    return {**slurm_trial_attrs(os.environ), **gpu_trial_attrs(os.environ)}


def _refresh_display(progress: StudyProgress, optuna_study: optuna.Study) -> None:
    """Re-read the study for the live display; a storage hiccup skips one refresh, never stops workers."""
    try:
        progress.sync(optuna_study)
    except Exception as exc:  # the workers own the study; the display can wait for the next poll
        from admet_hpo.tracking.urls import mask_text

        log.warning("display refresh skipped: %s", (mask_text(str(exc)).splitlines() or [""])[0])


def _close_parent_run(study: Study, optuna_study: optuna.Study, budget: int | None) -> None:
    """Mark the study's MLflow parent run FINISHED once the budget is spent (a later run reopens it)."""
    from admet_hpo.orchestration.runner import remaining_trials
    from admet_hpo.tracking.tracker import StudyTracker

    if remaining_trials(optuna_study, budget) == 0:
        tracker = StudyTracker(study.mlflow_tracking_uri)
        tracker.start_study(optuna_study)
        tracker.finish_study()


@user_errors
def worker_command(
    study_file: Path = StudyArg,
    n_trials: int | None = TrialBudgetOpt,
    timeout: float | None = TimeoutOpt,
    storage: str | None = StorageOpt,
    worker_index: int = typer.Option(0, "--worker-index", min=0, help="Offsets the sampler seed."),
    plots: bool = typer.Option(
        True, "--plots/--no-plots", help="Log the study plots on the parent run at the end."
    ),
    quiet: bool = QuietOpt,
) -> None:
    """Join an existing study (created by 'hpo run') from any machine that reaches its storage.

    Its trials record where they ran: the SLURM array job and task (slurm_array_job_id,
    slurm_array_task_id) and CUDA_VISIBLE_DEVICES (cuda_visible_devices) when set.
    """
    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.orchestration.runner import run_worker

    quiet_libraries()
    study, optuna_study = _open(study_file, storage)
    budget = n_trials if n_trials is not None else study.n_trials
    try:
        with (
            stop_signals_interrupt(),
            StudyProgress(console, budget, "quiet" if quiet else "live", optuna_study) as progress,
        ):
            summary = run_worker(
                study,
                n_trials=budget,
                timeout=timeout if timeout is not None else study.timeout,
                storage_url=storage_override(storage),
                worker_index=worker_index,
                observer=progress.on_epoch,
                callbacks=(progress,),
                trial_attrs=_placement_attrs(),
                plots=plots,
            )
    except KeyboardInterrupt:
        error_console.print("stopped: the running trial was marked FAIL; another worker may retry it")
        raise typer.Exit(code=130) from None
    _print_summary(summary, False)


def _open(study_file: Path, storage: str | None) -> tuple[Study, optuna.Study]:
    """The study file and its existing Optuna study; a clear error when there is none yet."""
    from admet_hpo.config.study import load_study
    from admet_hpo.errors import ConfigError
    from admet_hpo.orchestration.runner import load_existing_study
    from admet_hpo.storage.rdb import sqlite_file

    quiet_libraries()
    study = load_study(study_file)
    url = storage_override(storage) or study.storage
    database = sqlite_file(url)
    if database is not None and not database.is_file():
        raise ConfigError(
            f"{study_file}: no study storage at {database} yet (run 'hpo run {study_file}' first)"
        )
    try:
        return study, load_existing_study(study, url)
    except KeyError:
        raise ConfigError(
            f"{study_file}: the storage has no study for this search space yet (run 'hpo run {study_file}')"
        ) from None


@user_errors
def status_command(study_file: Path = StudyArg, storage: str | None = StorageOpt) -> None:
    """Table of the study's trials: number, state, value, key parameters, epochs, MLflow run id."""
    from admet_hpo.cli.progress import trials_table
    from admet_hpo.orchestration.runner import summarize

    study, optuna_study = _open(study_file, storage)
    console.print(trials_table(optuna_study))
    summary = summarize(optuna_study)
    _print_summary(summary, False)
    if summary.best_number is not None:
        _print_against_baseline(optuna_study, _best_trial(optuna_study, None), study.direction)


def _print_against_baseline(optuna_study: optuna.Study, best: FrozenTrial, direction: str) -> None:
    """The baseline line and, when both trials have test metrics, their side-by-side table."""
    from optuna.trial import TrialState

    from admet_hpo.cli.reports import baseline_summary, baseline_table
    from admet_hpo.search.baseline import find_baseline

    baseline = find_baseline(optuna_study.get_trials(deepcopy=False))
    console.print(baseline_summary(best, baseline, direction), highlight=False)
    if baseline is not None and baseline.state == TrialState.COMPLETE and baseline.number != best.number:
        console.print(baseline_table(best, baseline))


def _best_trial(optuna_study: optuna.Study, trial_number: int | None) -> FrozenTrial:
    from optuna.trial import TrialState

    from admet_hpo.errors import ConfigError

    trials = optuna_study.get_trials(deepcopy=False)
    if trial_number is None:
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if not complete:
            raise ConfigError(f"study {optuna_study.study_name} has no completed trial yet")
        return optuna_study.best_trial
    matching = [t for t in trials if t.number == trial_number]
    if not matching:
        raise ConfigError(
            f"study {optuna_study.study_name} has no trial {trial_number} ({len(trials)} trials)"
        )
    return matching[0]


@user_errors
def best_command(
    study_file: Path = StudyArg,
    storage: str | None = StorageOpt,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best completed trial: number, value, parameters and MLflow run id, against the baseline trial
    (the base training config): its value and both trials' test metrics."""
    from admet_hpo.search.baseline import find_baseline
    from admet_hpo.tracking.keys import TEST_METRICS_ATTR

    study, optuna_study = _open(study_file, storage)
    best = _best_trial(optuna_study, None)
    baseline = find_baseline(optuna_study.get_trials(deepcopy=False))
    record = {
        "study": optuna_study.study_name,
        "trial": best.number,
        "value": best.value,
        "params": best.params,
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "test_metrics": best.user_attrs.get(TEST_METRICS_ATTR),
        "baseline": None
        if baseline is None
        else {
            "trial": baseline.number,
            "state": baseline.state.name,
            "value": baseline.value,
            "test_metrics": baseline.user_attrs.get(TEST_METRICS_ATTR),
        },
    }
    if json_output:
        console.print_json(json.dumps(record, default=str))
        return
    console.print(f"best trial [bold]{best.number}[/] of {optuna_study.study_name}: value {best.value:.6g}")
    for name, value in best.params.items():
        console.print(f"  {name} = {value}")
    console.print(f"  mlflow run: {record['mlflow_run_id']}")
    _print_against_baseline(optuna_study, best, study.direction)


def _trial_training_config(study: Study, trial: FrozenTrial) -> TrainingConfig:
    from admet_hpo.search.objective import trial_config
    from admet_hpo.search.space import values_from_params

    return trial_config(study, values_from_params(study.space, trial.params), trial.number)


@user_errors
def export_command(
    study_file: Path = StudyArg,
    trial: int | None = typer.Option(None, "--trial", help="Trial number (default: the best)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the training config YAML."),
    storage: str | None = StorageOpt,
) -> None:
    """Write a trial's full resolved training config, runnable with 'hpo train'."""
    import yaml

    study, optuna_study = _open(study_file, storage)
    chosen = _best_trial(optuna_study, trial)
    config = _trial_training_config(study, chosen)
    config.output_dir = output.resolve().parent / f"{output.stem}-run"
    header = f"# trial {chosen.number} of study {optuna_study.study_name} (value {chosen.value})\n"
    output.write_text(
        header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
    )
    console.print(f"wrote {output} (trial {chosen.number}); train it with: hpo train {output}")


@user_errors
def replay_command(
    study_file: Path = StudyArg,
    trial: int = typer.Option(..., "--trial", help="Trial number to retrain."),
    tolerance: float = typer.Option(1e-6, "--tolerance", help="Allowed relative difference."),
    storage: str | None = StorageOpt,
) -> None:
    """Retrain a trial from its stored parameters and compare with its stored value.

    CPU training is deterministic, so the difference should be within 1e-6 relative; exit code 1 when it
    is not. A pruned trial is retrained for its full epochs, so it is compared only when COMPLETE.
    """
    from admet_hpo.errors import ConfigError
    from admet_hpo.training.run import train

    study, optuna_study = _open(study_file, storage)
    chosen = _best_trial(optuna_study, trial)
    if chosen.value is None:
        raise ConfigError(f"trial {trial} is {chosen.state.name}: it has no stored value to reproduce")
    quiet_libraries()
    config = _trial_training_config(study, chosen)
    config.output_dir = Path(config.output_dir).with_name(f"{Path(config.output_dir).name}-replay")
    result = train(config, progress_bar=False)
    from admet_hpo.search.objective import TrialObjective

    value = TrialObjective.metric_value_of(study.metric, result)
    difference = abs(value - chosen.value)
    relative = difference / max(abs(chosen.value), 1e-12)
    console.print(
        f"trial {chosen.number}: stored {chosen.value:.8g}, replayed {value:.8g}, "
        f"difference {difference:.3g} ({relative:.3g} relative, tolerance {tolerance:g})"
    )
    if not math.isfinite(relative) or relative > tolerance:
        raise typer.Exit(code=1)
