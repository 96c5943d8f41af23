"""Command-line options shared by the study commands."""

from __future__ import annotations

import typer

from admet_hpo.orchestration.session import OUTPUT_ENV, STORAGE_ENV, TRACKING_ENV

StudyArg = typer.Argument(..., metavar="STUDY.yaml", help="Study file.")
StorageOpt = typer.Option(
    None, "--storage", help=f"Optuna storage URL (default: ${STORAGE_ENV}, else the study file's)."
)
TrackingOpt = typer.Option(
    None,
    "--tracking-uri",
    help=f"MLflow tracking URI (default: ${TRACKING_ENV}, else the study file's mlflow.tracking_uri).",
)
OutputDirOpt = typer.Option(
    None,
    "--output-dir",
    help=(
        f"Folder of the study's outputs (trials, and the default storage and MLflow store) (default: "
        f"${OUTPUT_ENV}, else the study file's output_dir, relative to the study file)."
    ),
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
