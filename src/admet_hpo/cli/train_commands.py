"""``hpo train``: train one configuration and print its per-task metrics."""

from __future__ import annotations

from pathlib import Path

import typer

from admet_hpo.cli.console import console, quiet_libraries, user_errors
from admet_hpo.cli.options import SetOpt


def register(app: typer.Typer) -> None:
    """Add the training commands to ``app``."""
    app.command("train")(train_command)


@user_errors
def train_command(
    config_path: Path = typer.Argument(..., metavar="CONFIG.yaml", help="Training config (YAML)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Override output_dir."),
    max_epochs: int | None = typer.Option(None, "--max-epochs", help="Override trainer.max_epochs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    sets: list[str] | None = SetOpt,
) -> None:
    """Train a chemprop multi-task MPNN with the joint sampler and report per-task metrics."""
    from admet_hpo.cli.reports import bound_summary, training_summary
    from admet_hpo.config.loading import validate_mapping
    from admet_hpo.config.overrides import apply_overrides
    from admet_hpo.config.training import load_training_config

    quiet_libraries()
    config = load_training_config(config_path)
    overrides: dict[str, object] = {}
    if output_dir is not None:
        overrides["output_dir"] = output_dir
    if max_epochs is not None:
        overrides["trainer"] = {**config.trainer.model_dump(), "max_epochs": max_epochs}
    if overrides:
        merged = {**config.model_dump(), **overrides}
        config = validate_mapping(type(config), merged, source=f"{config_path} with command-line overrides")
    config = apply_overrides(config, sets or [], source=str(config_path))
    console.print(f"Training [bold]{config_path}[/] -> {config.output_dir}")
    from admet_hpo.training.run import train

    result = train(config, progress_bar=not quiet and config.trainer.progress_bar)
    console.print(training_summary(result))
    bounds = bound_summary(result)
    if bounds is not None:
        console.print(bounds)
    console.print(f"best checkpoint: {result.checkpoint_path}\nchemprop model: {result.model_path}")
