"""``hpo run``, ``worker``, ``status``, ``best``, ``export`` and ``replay``: a study's life cycle."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from admet_hpo.cli.console import console, error_console, quiet_libraries, stop_signals_interrupt, user_errors
from admet_hpo.cli.existing_study import existing_study
from admet_hpo.cli.options import (
    JsonOpt,
    OutputDirOpt,
    QuietOpt,
    SetOpt,
    StorageOpt,
    StudyArg,
    TimeoutOpt,
    TrackingOpt,
    TrialBudgetOpt,
)

log = logging.getLogger(__name__)

#: What the fork server of ``hpo run --workers N`` imports before forking the workers.
WORKER_PRELOAD = ("admet_hpo.cli.worker_preload",)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from admet_hpo.cli.progress import OutputMode, StudyProgress
    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.orchestration.runner import RunSummary
    from admet_hpo.orchestration.session import StudySession


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
    if as_json:
        from admet_hpo.cli.json_output import RunOutput, emit

        emit(RunOutput(summary))
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
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes on this machine."),
    gpus_per_worker: int | None = typer.Option(
        None,
        "--gpus-per-worker",
        min=0,
        help="GPUs per worker, assigned round-robin (default: 1 when the machine has GPUs; 0 = none).",
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON line per trial, JSON summary."),
    quiet: bool = QuietOpt,
    sets: list[str] | None = SetOpt,
) -> None:
    """Create the study if needed and run trials until its budget (or --timeout) is spent.

    Running the same command again resumes: the budget counts finished trials already in the storage.
    --set changes the base training config every trial starts from, as an edit of the study file would
    (the study version depends on the search space only). Exits with status 1 when every trial it ran
    failed or a worker failed (the MLflow parent run is then closed FAILED), 130 when interrupted.
    """
    from admet_hpo.errors import ConfigError
    from admet_hpo.orchestration.session import StudySession

    if gpus_per_worker is not None and workers == 1:
        raise ConfigError(
            "--gpus-per-worker needs --workers 2 or more (one worker trains in this process, on the "
            "devices of trainer.devices)"
        )
    if sets and workers > 1:
        raise ConfigError(
            "--set works with one worker (the worker processes read the study file): put the values in "
            "the study file to run several workers"
        )
    quiet_libraries(trains=workers == 1)  # with several, the worker processes train
    locations = {"storage": storage, "tracking_uri": tracking_uri, "output_dir": output_dir}
    with StudySession.open(study_file, **locations, sets=sets or ()) as session:
        mode = "json" if json_output else "quiet" if quiet else "live"
        _run(session, n_trials, timeout, workers, gpus_per_worker, mode)


def _print_locations(study: Study) -> None:
    """Where this invocation's storage, tracking store and outputs are (credentials masked)."""
    from admet_hpo.masking import mask_url

    for label, where in (
        ("storage", mask_url(study.storage)),
        ("tracking", mask_url(study.mlflow_tracking_uri)),
        ("outputs", str(study.output_dir)),
    ):
        console.print(f"{label + ':':<10} {where}", highlight=False, soft_wrap=True)


def _run(
    session: StudySession,
    n_trials: int | None,
    timeout: float | None,
    workers: int,
    gpus_per_worker: int | None,
    mode: OutputMode,
) -> None:
    """``hpo run`` on a resolved session: prepare the study once, run its trials here or in workers."""
    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.config.locations import sqlite_database
    from admet_hpo.orchestration.launcher import prepare_workers, start_fork_server
    from admet_hpo.orchestration.runner import (
        finish_parent_run,
        log_plots,
        prepare_study,
        remaining_trials,
        run_worker,
        summarize,
    )
    from admet_hpo.search.warm_start import warm_start_note
    from admet_hpo.training.devices import plan_devices

    # the study file is valid: the workers' fork server imports the training code while this process goes on
    context = start_fork_server(WORKER_PRELOAD) if workers > 1 else None
    study = session.study
    plan_devices(study.base_training.trainer)  # this machine runs the trials: refuse devices it lacks now
    budget = n_trials if n_trials is not None else study.n_trials
    time_limit = timeout if timeout is not None else study.timeout
    if mode == "live":
        _print_locations(study)
    workers_started = (
        prepare_workers(
            session,
            workers,
            context,
            launched_worker,
            (study.source, budget, time_limit),
            gpus_per_worker=gpus_per_worker,
        )
        if context is not None
        else None
    )
    optuna_study = prepare_study(session)
    if mode == "live":
        console.print(
            f"study [bold]{optuna_study.study_name}[/]: "
            f"{remaining_trials(optuna_study, budget) if budget else 'unbounded'} trial(s) to run"
        )
        note = warm_start_note(optuna_study)
        if note is not None:
            console.print(note)
    if workers > 1 and sqlite_database(study.storage) is not None:
        error_console.print(
            "[yellow]warning:[/] several workers on SQLite serialise their writes; use PostgreSQL "
            "(postgresql+psycopg://...) for many workers"
        )
    failed_workers: list[int] = []
    try:
        with stop_signals_interrupt(), StudyProgress(console, budget, mode, optuna_study) as progress:
            if workers_started is None:
                summary = run_worker(
                    session,
                    n_trials=budget,
                    timeout=time_limit,
                    observer=progress.on_epoch,
                    callbacks=(progress,),
                    trial_attrs=_placement_attrs(),
                )
            else:
                workers_started.start()
                codes = workers_started.wait(poll=lambda: _refresh_display(progress, optuna_study))
                failed_workers = [index for index, code in enumerate(codes) if code != 0]
                progress.sync(optuna_study)
                log_plots(session, optuna_study)
                summary = summarize(optuna_study)
    except KeyboardInterrupt:
        error_console.print("interrupted: the running trial was marked FAIL; run the same command to resume")
        raise typer.Exit(code=130) from None
    failed = summary.all_failed or bool(failed_workers)
    finish_parent_run(session, optuna_study, budget, failed=failed)
    if mode == "live":
        from admet_hpo.cli.progress import trials_table

        console.print(trials_table(optuna_study))
    _print_summary(summary, mode == "json")
    if mode != "json" and summary.best_number is not None:
        from admet_hpo.cli.best_report import best_report, print_best_report

        print_best_report(console, best_report(study, optuna_study, optuna_study.best_trial, study.storage))
    if failed_workers:
        listed = ", ".join(f"{index} (status {codes[index]})" for index in failed_workers)
        error_console.print(f"[bold red]error:[/] worker(s) {listed} failed", highlight=False)
    _exit_if_all_failed(summary)
    if failed_workers:
        raise typer.Exit(code=1)


def _exit_if_all_failed(summary: RunSummary) -> None:
    """Exit with status 1 when every trial this invocation ran failed (their errors are in status)."""
    from admet_hpo.cli.console import exit_all_trials_failed

    if summary.all_failed:
        exit_all_trials_failed(summary.ran, "this invocation")


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
        from admet_hpo.masking import mask_text

        log.warning("display refresh skipped: %s", (mask_text(str(exc)).splitlines() or [""])[0])


@user_errors
def worker_command(
    study_file: Path = StudyArg,
    n_trials: int | None = TrialBudgetOpt,
    timeout: float | None = TimeoutOpt,
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
    worker_index: int = typer.Option(0, "--worker-index", min=0, help="Offsets the sampler seed."),
    plots: bool = typer.Option(
        True, "--plots/--no-plots", help="Log the study plots on the parent run at the end."
    ),
    quiet: bool = QuietOpt,
) -> None:
    """Join an existing study (created by 'hpo run') from any machine that reaches its storage.

    Its trials record where they ran: the SLURM array job and task (slurm_array_job_id,
    slurm_array_task_id) and CUDA_VISIBLE_DEVICES (cuda_visible_devices) when set. Exits with status 1
    when every trial it ran failed, 130 when stopped.
    """
    locations = {"storage": storage, "tracking_uri": tracking_uri, "output_dir": output_dir}
    _join_study(
        study_file, n_trials, timeout, locations, worker_index, plots=plots, quiet=quiet, launched=False
    )


def launched_worker(study_file: Path, n_trials: int | None, timeout: float | None, index: int) -> int:
    """The body of a worker process of ``hpo run --workers N`` (see
    :mod:`admet_hpo.orchestration.launcher`): the study's locations come from its environment; quiet,
    no plots (the launcher logs them), and an interruption is reported once, by the launcher. Returns the
    exit status ``hpo worker`` would exit with."""
    locations = {"storage": None, "tracking_uri": None, "output_dir": None}
    try:
        user_errors(_join_study)(
            study_file, n_trials, timeout, locations, index, plots=False, quiet=True, launched=True
        )
    except typer.Exit as stop:
        return stop.exit_code
    return 0


def _join_study(
    study_file: Path,
    n_trials: int | None,
    timeout: float | None,
    locations: dict[str, Any],
    worker_index: int,
    *,
    plots: bool,
    quiet: bool,
    launched: bool,
) -> None:
    """Run trials of the existing study until its budget (or ``timeout``) is spent (``hpo worker``)."""
    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.orchestration.runner import run_worker

    quiet_libraries()
    with existing_study(study_file, **locations) as (session, optuna_study):
        budget = n_trials if n_trials is not None else session.study.n_trials
        try:
            with (
                stop_signals_interrupt(),
                StudyProgress(console, budget, "quiet" if quiet else "live", optuna_study) as progress,
            ):
                summary = run_worker(
                    session,
                    n_trials=budget,
                    timeout=timeout if timeout is not None else session.study.timeout,
                    worker_index=worker_index,
                    observer=progress.on_epoch,
                    callbacks=(progress,),
                    trial_attrs=_placement_attrs(),
                    plots=plots,
                )
        except KeyboardInterrupt:
            if not launched:  # a launcher says it once for all its workers
                error_console.print("stopped: the running trial was marked FAIL; another worker may retry it")
            raise typer.Exit(code=130) from None
    _print_summary(summary, False)
    _exit_if_all_failed(summary)


@user_errors
def status_command(
    study_file: Path = StudyArg,
    storage: str | None = StorageOpt,
    output_dir: Path | None = OutputDirOpt,
    json_output: bool = JsonOpt,
) -> None:
    """Table of the study's trials: number, state, value, key parameters, epochs, MLflow run id."""
    from admet_hpo.cli.progress import trials_table
    from admet_hpo.orchestration.runner import summarize

    with existing_study(study_file, storage, output_dir=output_dir) as (session, optuna_study):
        if json_output:
            from admet_hpo.cli.json_output import StatusOutput, TrialRecord, emit

            trials = [TrialRecord.of(trial) for trial in optuna_study.get_trials(deepcopy=False)]
            emit(StatusOutput(summary=summarize(optuna_study), trials=trials))
            return
        console.print(trials_table(optuna_study))
        summary = summarize(optuna_study)
        _print_summary(summary, False)
        if summary.best_number is not None:
            _print_against_baseline(optuna_study, _best_trial(optuna_study, None), session.study.direction)


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
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
    json_output: bool = JsonOpt,
) -> None:
    """The best completed trial: number, value, every parameter as applied, where its model is, the
    commands that open the study in optuna-dashboard and in the MLflow UI, and the baseline trial (the
    base training config): its value and both trials' test metrics."""
    from admet_hpo.cli.best_report import best_report, print_best_report

    with existing_study(study_file, storage, tracking_uri, output_dir) as (session, optuna_study):
        study = session.study
        best = _best_trial(optuna_study, None)
        report = best_report(study, optuna_study, best, study.storage)
    if json_output:
        from dataclasses import asdict

        from admet_hpo.cli.json_output import BestOutput, emit

        emit(BestOutput(**asdict(report)))
        return
    print_best_report(console, report)
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
    output_dir: Path | None = OutputDirOpt,
    json_output: bool = JsonOpt,
) -> None:
    """Write a trial's full resolved training config, runnable with 'hpo train'."""
    import yaml

    with existing_study(study_file, storage, output_dir=output_dir) as (session, optuna_study):
        chosen = _best_trial(optuna_study, trial)
    config = _trial_training_config(session.study, chosen)
    config.output_dir = output.resolve().parent / f"{output.stem}-run"
    header = f"# trial {chosen.number} of study {optuna_study.study_name} (value {chosen.value})\n"
    output.write_text(
        header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
    )
    if json_output:
        from admet_hpo.cli.json_output import ExportOutput, emit

        emit(
            ExportOutput(
                study=optuna_study.study_name,
                trial=chosen.number,
                value=chosen.value,
                output=str(output.resolve()),
                output_dir=str(config.output_dir),
            )
        )
        return
    console.print(f"wrote {output} (trial {chosen.number}); train it with: hpo train {output}")


@user_errors
def replay_command(
    study_file: Path = StudyArg,
    trial: int = typer.Option(..., "--trial", help="Trial number to retrain."),
    tolerance: float = typer.Option(1e-6, "--tolerance", help="Allowed relative difference."),
    storage: str | None = StorageOpt,
    output_dir: Path | None = OutputDirOpt,
    json_output: bool = JsonOpt,
) -> None:
    """Retrain a trial from its stored parameters and compare with its stored value.

    CPU training is deterministic, so the difference should be within 1e-6 relative; exit code 1 when it
    is not. A pruned trial is retrained for its full epochs, so it is compared only when COMPLETE.
    """
    from admet_hpo.errors import ConfigError
    from admet_hpo.training.run import train

    with existing_study(study_file, storage, output_dir=output_dir) as (session, optuna_study):
        chosen = _best_trial(optuna_study, trial)
    study = session.study
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
    reproduced = math.isfinite(relative) and relative <= tolerance
    if json_output:
        from admet_hpo.cli.json_output import ReplayOutput, emit

        emit(
            ReplayOutput(
                study=optuna_study.study_name,
                trial=chosen.number,
                stored=chosen.value,
                replayed=value,
                difference=difference,
                relative=relative,
                tolerance=tolerance,
                reproduced=reproduced,
            )
        )
    else:
        console.print(
            f"trial {chosen.number}: stored {chosen.value:.8g}, replayed {value:.8g}, "
            f"difference {difference:.3g} ({relative:.3g} relative, tolerance {tolerance:g})"
        )
    if not reproduced:
        raise typer.Exit(code=1)
