"""The ``hpo`` application: command groups are registered here."""

from __future__ import annotations

import typer

from admet_hpo import __version__

app = typer.Typer(
    name="hpo",
    help="Hyperparameter search for chemprop multi-task ADMET models trained with a joint sampler.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"admet-hpo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Hyperparameter search for chemprop multi-task ADMET models trained with a joint sampler."""
    from admet_hpo.masking import install_secret_masking

    install_secret_masking()  # before any command logs, warns or fails


def _register() -> None:
    from admet_hpo.cli import (
        config_commands,
        dashboard_commands,
        data_commands,
        engine_commands,
        finalize_commands,
        ops_commands,
        search_commands,
        study_commands,
        train_commands,
    )

    app.add_typer(data_commands.app, name="data")
    app.add_typer(config_commands.app, name="config")
    train_commands.register(app)
    search_commands.register(app)
    dashboard_commands.register(app)
    study_commands.register(app)
    ops_commands.register(app)
    engine_commands.register(app)
    finalize_commands.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
