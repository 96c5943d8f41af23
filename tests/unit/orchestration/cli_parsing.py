"""Deployment commands (compose services, Kubernetes containers) parsed by the real installed CLIs."""

from __future__ import annotations

import shlex

import click
import pytest
import typer
from typer.testing import CliRunner

from admet_hpo.cli import app

EXECUTABLES = {"hpo", "mlflow", "optuna-dashboard"}


def assert_real_invocation(argv: list[str], where: str) -> click.Context | None:
    """Parse ``argv`` exactly as the installed ``hpo`` or ``mlflow`` CLI will (every option and value);
    fail the test naming ``where`` when it would not. The parsed context of hpo/mlflow commands."""
    assert argv[0] in EXECUTABLES, f"{where}: {argv[0]} is not one of {sorted(EXECUTABLES)}"
    if argv[0] == "hpo":
        assert CliRunner().invoke(app, [argv[1], "--help"]).exit_code == 0
        group = typer.main.get_command(app)
        command = group.get_command(click.Context(group), argv[1])
        assert command is not None, f"{where}: hpo has no command {argv[1]}"
    else:
        from mlflow.cli import cli

        command = cli.commands[argv[1]]
    try:
        return command.make_context(argv[1], argv[2:])
    except click.ClickException as exc:
        pytest.fail(f"{where}: {shlex.join(argv)}: {exc.format_message()}")
