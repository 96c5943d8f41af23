"""``hpo nightly``, ``hpo schedule`` and ``hpo reap``: operating a study over many nights and machines."""

from __future__ import annotations

import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from admet_hpo.cli.console import (
    console,
    error_console,
    print_error,
    quiet_libraries,
    stop_signals_interrupt,
    user_errors,
)
from admet_hpo.cli.options import OutputDirOpt, StorageOpt, StudyArg, TrackingOpt

if TYPE_CHECKING:
    from admet_hpo.cli.json_output import NightRecord
    from admet_hpo.cli.progress import OutputMode
    from admet_hpo.orchestration.nightly import NightPlan, NightReport, Reaped
    from admet_hpo.orchestration.session import StudySession


def register(app: typer.Typer) -> None:
    """Add the operations commands to ``app``."""
    app.command("nightly")(nightly_command)
    app.command("schedule")(schedule_command)
    app.command("reap")(reap_command)


def _quiet() -> None:
    """No warnings that heartbeats are an experimental Optuna feature; secrets masked in log records.
    Commands that train call :func:`quiet_libraries` too, once their arguments are checked (it imports
    Lightning, which takes seconds)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    from admet_hpo.masking import add_secret_masking

    add_secret_masking()
    warnings.filterwarnings("ignore", category=ExperimentalWarning)


def _parse_night(text: str) -> date:
    from admet_hpo.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r}: expected a date as YYYY-MM-DD, e.g. 2026-05-01") from None


# ------------------------------------------------------------------------------------------------ output


def _reaped_lines(reaped: list[Reaped]) -> list[str]:
    lines = []
    for entry in reaped:
        if entry.failed_trials:
            numbers = ", ".join(f"#{n}" for n in entry.failed_trials)
            lines.append(f"{entry.study_name}: failed {len(entry.failed_trials)} stale trial(s) ({numbers})")
        if entry.closed_runs:
            lines.append(f"{entry.study_name}: closed {len(entry.closed_runs)} MLflow run(s) left RUNNING")
    return lines


def _print_plan(plan: NightPlan) -> None:
    from admet_hpo.masking import mask_url
    from admet_hpo.orchestration.nightly import parameter_summary

    version, study = plan.version, plan.study
    console.print(
        f"night [bold]{plan.night}[/] of study [bold]{version.name}[/] on {mask_url(study.storage)}, "
        f"tracking {mask_url(study.mlflow_tracking_uri)}, outputs in {study.output_dir}",
        highlight=False,
        soft_wrap=True,
    )
    if version.previous is not None:
        recorded = (version.previous_data_hash or "unknown")[:12]
        action = "switched to the" if version.exists else "opened a new"
        console.print(
            f"[yellow]data changed[/]: content hash {version.data_hash[:12]} differs from {recorded} of "
            f"{version.previous}; {action} study version [bold]{version.name}[/] instead of mixing results",
            highlight=False,
            soft_wrap=True,
        )
    elif not version.exists:
        console.print(f"created study {version.name} (data hash {version.data_hash[:12]})", highlight=False)
    for line in _reaped_lines(plan.reaped):
        console.print(line, highlight=False)
    if plan.enqueued:
        console.print(f"warm start: enqueued {len(plan.enqueued)} best parameter set(s) of earlier nights")
        for params in plan.enqueued:
            console.print(f"  {parameter_summary(params)}", highlight=False)
    nightly, before = study.nightly, plan.before
    if plan.budget.spent:
        console.print(
            f"the budget of night {plan.night} is spent ({before.finished} finished trial(s), "
            f"{before.seconds / 60:.1f} min): nothing to add",
            highlight=False,
        )
        return
    limits = []
    if plan.budget.trials is not None:
        limits.append(f"{plan.budget.trials} of {nightly.n_trials} trial(s)")
    if plan.budget.seconds is not None:
        limits.append(f"{plan.budget.seconds / 60:.1f} of {nightly.minutes:g} min")
    console.print(
        f"budget left: {' and '.join(limits)} ({before.finished} finished earlier tonight)", highlight=False
    )


def _report_record(report: NightReport) -> NightRecord:
    from admet_hpo.cli.json_output import NightRecord

    plan = report.plan
    return NightRecord(
        night=plan.night,
        study=plan.version.name,
        data_hash=plan.version.data_hash,
        previous_version=plan.version.previous,
        new_version=not plan.version.exists,
        stale_trials_failed={r.study_name: r.failed_trials for r in plan.reaped if r.failed_trials},
        runs_closed=sum(len(r.closed_runs) for r in plan.reaped),
        enqueued=plan.enqueued,
        finished_before=plan.before.finished,
        finished=report.after.finished,
        complete=report.after.complete,
        pruned=report.after.pruned,
        failed=report.after.failed,
        added=report.added,
        best_trial=report.best_number,
        best_value=report.best_value,
    )


def _print_report(report: NightReport) -> None:
    after = report.after
    best = "none completed" if report.best_number is None else f"trial {report.best_number} = "
    best += "" if report.best_value is None else f"{report.best_value:.6g}"
    console.print(
        f"night [bold]{report.plan.night}[/]: {after.finished} finished ({after.complete} complete, "
        f"{after.pruned} pruned), {after.failed} failed; added {report.added}; best tonight {best}",
        highlight=False,
    )


def _night(session: StudySession, night: date, mode: OutputMode) -> NightReport:
    """Plan and run one night, printing the plan and the outcome (one JSON record in ``json`` mode);
    the version's parent run is closed FAILED when every trial the night ran failed."""

    from admet_hpo.cli.progress import StudyProgress
    from admet_hpo.orchestration.nightly import plan_night, run_night
    from admet_hpo.orchestration.runner import FINISHED, load_existing_study
    from admet_hpo.search.warm_start import warm_start_note

    plan = plan_night(session, night)
    optuna_study = load_existing_study(plan.session)
    if mode != "json":
        _print_plan(plan)
        note = warm_start_note(optuna_study)
        if note is not None:
            console.print(note, highlight=False)
    target = None  # the panel counts the study's finished trials: show where tonight's budget takes them
    if plan.budget.trials is not None:
        target = len(optuna_study.get_trials(deepcopy=False, states=FINISHED)) + plan.budget.trials
    with StudyProgress(console, target, mode, study=optuna_study) as progress:
        report = run_night(plan, observer=progress.on_epoch, callbacks=(progress,))
    if report.all_failed:
        plan.session.tracker(optuna_study).finish_study("FAILED")
    if mode == "json":
        from admet_hpo.cli.json_output import NightlyOutput, emit

        emit(NightlyOutput(_report_record(report)))
    else:
        _print_report(report)
    return report


# ---------------------------------------------------------------------------------------------- commands


@user_errors
def nightly_command(
    study_file: Path = StudyArg,
    night: str | None = typer.Option(
        None, "--date", metavar="YYYY-MM-DD", help="The night (default: today in the study's time zone)."
    ),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
    json_output: bool = typer.Option(False, "--json", help="One JSON line per trial, a JSON night record."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live panel."),
) -> None:
    """Run one night's budget of trials (the study's nightly: block).

    It first fails stale trials, warm-starts from the best of earlier nights and tags each trial with
    the night's date. Idempotent per night: run again on the same date, it only tops the night up to its
    budget. When the data set changed, the night opens a new study version instead of mixing results.
    Exits with status 1 when every trial the night ran failed, 130 when interrupted.
    """
    from admet_hpo.orchestration.nightly import night_of
    from admet_hpo.orchestration.session import StudySession

    locations = {"storage": storage, "tracking_uri": tracking_uri, "output_dir": output_dir}
    with StudySession.open(study_file, **locations) as session:
        timezone = session.study.nightly.timezone
        when = _parse_night(night) if night is not None else night_of(datetime.now(UTC), timezone)
        _quiet()
        quiet_libraries()
        mode: OutputMode = "json" if json_output else "quiet" if quiet else "live"
        with stop_signals_interrupt():
            try:
                report = _night(session, when, mode)
            except KeyboardInterrupt:
                error_console.print(
                    "interrupted: the running trial was marked FAIL; run the same command to finish the night"
                )
                raise typer.Exit(code=130) from None
    if report.all_failed:
        from admet_hpo.cli.console import exit_all_trials_failed

        exit_all_trials_failed(report.run.ran, f"night {report.plan.night}")


@user_errors
def schedule_command(
    study_file: Path = StudyArg,
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
    cron: str | None = typer.Option(
        None,
        "--cron",
        help="Cron expression instead of the study's nightly.cron: 5 fields, or 6 with seconds first.",
    ),
    max_runs: int | None = typer.Option(
        None, "--max-runs", min=1, help="Stop after this many nights (default: run until stopped)."
    ),
) -> None:
    """Run nightly sweeps on the study's cron schedule until stopped.

    The schedule is nightly.cron in nightly.timezone (or --cron); one night runs at a time. The study
    file is read again every night, so budget edits apply without a restart. A night that fails is
    reported and the schedule goes on. Ctrl-C or SIGTERM stops it (a running trial is marked FAIL).
    """
    from admet_hpo.config.cron import cron_trigger
    from admet_hpo.errors import AdmetHpoError
    from admet_hpo.masking import mask_text, mask_url
    from admet_hpo.orchestration.scheduling import run_schedule
    from admet_hpo.orchestration.session import StudySession

    locations = {"storage": storage, "tracking_uri": tracking_uri, "output_dir": output_dir}
    with StudySession.open(study_file, **locations) as session:
        study = session.study
        expression = cron or study.nightly.cron
        trigger = cron_trigger(expression, study.nightly.timezone)
        _quiet()
        session.storage  # noqa: B018 - a wrong URL or an unreachable server fails now, not at night
    quiet_libraries()
    console.print(
        f"nightly sweeps of {study_file} at '{expression}' ({study.nightly.timezone}) on "
        f"{mask_url(study.storage)}; Ctrl-C stops",
        highlight=False,
        soft_wrap=True,
    )

    def night_job(night: date) -> None:
        try:
            with StudySession.open(study_file, **locations) as night_session:  # the file is read each night
                _night(night_session, night, "quiet")
        except AdmetHpoError as exc:
            print_error(f"night {night}: {exc}")
        except KeyboardInterrupt:
            error_console.print(f"night {night} interrupted: the running trial was marked FAIL")
            raise
        except Exception:
            details = mask_text(traceback.format_exc())
            error_console.print(f"[bold red]error:[/] night {night} failed:\n{details}", highlight=False)

    def announce(upcoming: datetime) -> None:
        console.print(f"next night at {upcoming.isoformat(sep=' ', timespec='seconds')}", highlight=False)

    with stop_signals_interrupt():
        try:
            runs = run_schedule(
                trigger, study.nightly.timezone, night_job, max_runs=max_runs, on_next=announce
            )
        except KeyboardInterrupt:
            console.print("scheduler stopped")
            return
    console.print(f"scheduler stopped after {runs} night(s)")


@user_errors
def reap_command(
    study_file: Path = StudyArg,
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
) -> None:
    """Fail stale trials now and close their MLflow runs as FAILED.

    A trial is stale when its worker sent no heartbeat for the grace period; every version of the study
    is checked, and each failed trial is re-queued up to heartbeat.max_retry times.
    """
    from admet_hpo.errors import ConfigError
    from admet_hpo.masking import mask_url
    from admet_hpo.orchestration.nightly import reap_study
    from admet_hpo.orchestration.session import StudySession

    _quiet()
    locations = {"storage": storage, "tracking_uri": tracking_uri, "output_dir": output_dir}
    with StudySession.open(study_file, **locations) as session:
        study = session.study
        reaped = reap_study(session)
    if not reaped:
        raise ConfigError(
            f"{study_file}: the storage {mask_url(study.storage)} has no version of study {study.name}"
        )
    grace = study.heartbeat.grace_period or 2 * study.heartbeat.interval
    lines = _reaped_lines(reaped)
    for line in lines:
        console.print(line, highlight=False)
    if not lines:
        names = ", ".join(entry.study_name for entry in reaped)
        console.print(f"no stale trial (none silent for more than {grace} s) in {names}", highlight=False)
