"""``hpo validate`` and ``hpo schema``: check study and search-space files, write their JSON Schemas."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from admet_hpo.cli.console import console, error_console, user_errors
from admet_hpo.cli.options import JsonOpt


class Kind(StrEnum):
    """File kinds ``hpo validate --kind`` accepts."""

    study = "study"
    space = "space"
    training = "training"


def validate(
    files: list[Path] = typer.Argument(..., help="Study, search-space or training-config YAML files."),
    kind: Kind | None = typer.Option(None, "--kind", help="Check every file as this kind (default: detect)."),
    json_output: bool = JsonOpt,
) -> None:
    """Check files without running anything; print OK per file or every problem. Exit status 2 on errors."""
    from admet_hpo.errors import AdmetHpoError
    from admet_hpo.masking import mask_text
    from admet_hpo.search.validation import validate_file

    results: list[dict[str, object]] = []  # the ValidatedFile records of --json
    for path in files:
        try:
            report = validate_file(path, kind.value if kind is not None else None)
        except AdmetHpoError as exc:
            error = mask_text(str(exc))
            results.append(
                {
                    "path": str(path),
                    "ok": False,
                    "kind": None,
                    "summary": None,
                    "warnings": [],
                    "error": error,
                }
            )
            if not json_output:
                error_console.print(f"[bold red]FAIL[/] {path}", highlight=False)
                error_console.print(error, markup=False, highlight=False, soft_wrap=True)
            continue
        results.append(
            {
                "path": str(path),
                "ok": True,
                "kind": report.kind,
                "summary": report.summary,
                "warnings": list(report.warnings),
                "error": None,
            }
        )
        if not json_output:
            console.print(f"[bold green]OK[/]   {path}: {report.summary}", highlight=False, soft_wrap=True)
            for warning in report.warnings:
                console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    failed = sum(not result["ok"] for result in results)
    if json_output:
        from admet_hpo.cli.json_output import ValidateOutput, emit

        emit(ValidateOutput.model_validate({"ok": not failed, "files": results}))
    if failed:
        if not json_output:
            error_console.print(f"{failed} of {len(files)} file(s) have errors", highlight=False)
        raise typer.Exit(code=2)


@user_errors
def schema(
    output: Path = typer.Option(Path("schemas"), "-o", "--output", help="Folder for the .schema.json files."),
) -> None:
    """Write JSON Schemas of study, search-space and training-config files (for editor completion), and
    of every command's --json output (in OUTPUT/output)."""
    from admet_hpo.cli.json_output import output_schemas
    from admet_hpo.config.schemas import generate_schemas, write_schema_files

    written = write_schema_files(output, generate_schemas())
    for path in [*written, *write_schema_files(output / "output", output_schemas())]:
        console.print(f"wrote {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``schema`` to ``app``."""
    app.command("validate")(validate)
    app.command("schema")(schema)
