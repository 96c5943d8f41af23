"""``hpo config``: upgrade training configs written for older versions."""

from __future__ import annotations

from pathlib import Path

import typer

from admet_hpo.cli.console import error_console, user_errors

app = typer.Typer(help="Upgrade config files written for older versions.", no_args_is_help=True)


@app.command("migrate")
@user_errors
def migrate(
    old: Path = typer.Argument(..., help="Training config YAML that may use legacy keys."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the upgraded YAML here instead of printing it."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT when it exists."),
) -> None:
    """Rewrite legacy keys (optimization.task_sampling_alpha, top-level curriculum) to the sampling block.

    The result is validated as a training config before it is written. YAML comments are not kept.
    """
    import yaml

    from admet_hpo.config.legacy import rewrite_legacy_keys
    from admet_hpo.config.loading import read_yaml_mapping, validate_mapping
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.errors import ConfigError

    source = str(old)
    upgraded, rewrites = rewrite_legacy_keys(read_yaml_mapping(old), source)
    validate_mapping(TrainingConfig, upgraded, source=f"{source} (after migration)")
    text = yaml.safe_dump(upgraded, sort_keys=False, allow_unicode=True)
    if output is not None and output.exists() and not force:
        raise ConfigError(f"{output}: already exists; pass --force to overwrite it")
    for rewrite in rewrites:
        error_console.print(f"moved '{rewrite.old}' -> '{rewrite.new}'", highlight=False, soft_wrap=True)
    if not rewrites:
        error_console.print(f"{source}: no legacy keys; nothing to migrate", highlight=False, soft_wrap=True)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    error_console.print(f"wrote {output}", highlight=False, soft_wrap=True)
