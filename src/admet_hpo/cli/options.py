"""Command-line options shared by the study commands."""

from __future__ import annotations

import os

import typer

STORAGE_ENV = "ADMET_HPO_STORAGE"

StudyArg = typer.Argument(..., metavar="STUDY.yaml", help="Study file.")
StorageOpt = typer.Option(
    None, "--storage", help=f"Optuna storage URL (default: ${STORAGE_ENV}, else the study file's)."
)

TrialBudgetOpt = typer.Option(
    None, "--n-trials", min=1, help="Budget of finished trials (default: the study file's n_trials)."
)
TimeoutOpt = typer.Option(None, "--timeout", min=1, help="Stop starting trials after S seconds.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Only the final summary.")
SetOpt = typer.Option(
    None,
    "--set",
    metavar="KEY.PATH=VALUE",
    help="Override a training-config value (repeatable), e.g. --set model.depth=4 (value read as YAML).",
)
JsonOpt = typer.Option(
    False, "--json", help="Print one JSON record (schema: schemas/output/, docs/reference/json-output.md)."
)


def storage_override(storage: str | None) -> str | None:
    """``--storage`` if given, else ``$ADMET_HPO_STORAGE`` (how launched workers and containers get it)."""
    return storage or os.environ.get(STORAGE_ENV) or None
