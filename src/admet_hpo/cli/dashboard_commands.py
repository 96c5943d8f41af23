"""``hpo dashboard``: serve a study's Optuna storage with optuna-dashboard until Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import typer

from admet_hpo.cli.console import console, error_console, stop_signals_interrupt, user_errors
from admet_hpo.cli.options import OutputDirOpt
from admet_hpo.orchestration.dashboard import Server


def _warn(message: str) -> None:
    from rich.markup import escape

    error_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@user_errors
def dashboard(
    study_file: Path | None = typer.Argument(
        None, help="Study YAML file whose storage to serve (or give --storage)."
    ),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL to serve; overrides the study file's storage."
    ),
    output_dir: Path | None = OutputDirOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow a non-loopback --host. Anyone reaching it can create, rename and delete studies.",
    ),
    server: Server = typer.Option(
        "auto", "--server", help="optuna-dashboard's server: auto (gunicorn if installed), wsgiref, gunicorn."
    ),
) -> None:
    """Serve a study's Optuna storage with optuna-dashboard until Ctrl-C.

    Trials, plots and each trial's note with its MLflow run are browsable at http://127.0.0.1:8080.
    The dashboard can create, rename and delete studies: it listens on loopback unless told otherwise.
    """
    from admet_hpo.errors import ConfigError
    from admet_hpo.masking import mask_url
    from admet_hpo.orchestration.dashboard import (
        dashboard_url,
        ensure_port_free,
        is_loopback,
        running_dashboard,
        storage_studies,
    )

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"--host {host} is not a loopback address: the dashboard has no login and can create, rename "
            "and delete studies in the storage; pass --allow-remote to listen there anyway"
        )
    from admet_hpo.orchestration.session import resolve_locations

    study_name = None
    storage = resolve_locations(storage=storage).storage
    if study_file is not None:
        from admet_hpo.orchestration.session import StudySession
        from admet_hpo.search.versioning import versioned_study_name

        study = StudySession.open(study_file, storage=storage, output_dir=output_dir).study
        storage = study.storage
        study_name = versioned_study_name(study)
    elif storage is None:
        raise ConfigError("give a study file (hpo dashboard STUDY.yaml) or --storage URL")
    studies = storage_studies(storage)
    ensure_port_free(host, port)
    if not is_loopback(host):
        _warn(
            f"listening on {host}: anyone who reaches port {port} can create, rename and delete studies in "
            f"{mask_url(storage)}"
        )
    listed = ", ".join(sorted(studies)) or "none"
    if study_name is not None and study_name not in studies:
        _warn(f"study {study_name} is not in the storage yet (run 'hpo run {study_file}'); studies: {listed}")
    study_id = studies.get(study_name) if study_name is not None else None
    try:
        with stop_signals_interrupt(), running_dashboard(storage, host, port, server) as process:
            url = dashboard_url(host, port, study_id)
            console.print(f"optuna-dashboard: {url}", highlight=False, soft_wrap=True)
            console.print(f"study:   {study_name}" if study_name else f"studies: {listed}", highlight=False)
            console.print(f"storage: {mask_url(storage)}", highlight=False, soft_wrap=True)
            console.print("Ctrl-C stops the dashboard.", highlight=False)
            console.file.flush()  # the URL must reach a log file or pipe now, not when the dashboard stops
            status = process.wait()
    except KeyboardInterrupt:
        console.print("dashboard stopped", highlight=False)
        return
    if status != 0:
        error_console.print(f"optuna-dashboard exited with status {status}", highlight=False)
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to ``app``."""
    app.command("dashboard")(dashboard)
