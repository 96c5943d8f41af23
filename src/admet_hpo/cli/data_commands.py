"""``hpo data``: list and fetch known public data sets, check data tables.

The data layer (pandas, RDKit) is imported inside each command so that ``hpo --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from admet_hpo.cli.console import console, user_errors
from admet_hpo.cli.options import JsonOpt

if TYPE_CHECKING:
    from admet_hpo.data.report import TableReport

app = typer.Typer(help="Fetch known public data sets and check data tables.", no_args_is_help=True)

ALL_QUALITIES = ("high", "medium", "low")


def _split_names(values: list[str] | None) -> tuple[str, ...]:
    """Names given as repeated options and/or comma-separated lists, in order, without blanks."""
    return tuple(name.strip() for value in values or [] for name in value.split(",") if name.strip())


def _counts_table(report: TableReport) -> list[Table]:
    """One table per grouping column (experiment, condition, quality): labels per task and group."""
    groups = report.groups or (None,)
    tables = []
    for group in groups:
        title = "labels per task" + (f" by {group.role}" if group is not None else "")
        table = Table(title=title, title_justify="left")
        table.add_column("task")
        table.add_column("all", justify="right")
        values = list(group.rows) if group is not None else []
        for value in values:
            table.add_column(value, justify="right")
        for task in report.target_names:
            per_group = [str(group.labels[value][task]) for value in values] if group is not None else []
            table.add_row(task, str(report.labels[task]), *per_group)
        per_group_rows = [str(group.rows[value]) for value in values] if group is not None else []
        table.add_row("[bold]records[/]", f"[bold]{report.rows}[/]", *per_group_rows, end_section=True)
        tables.append(table)
    return tables


def _censoring_table(report: TableReport) -> Table:
    """Labelled cells per task by kind: exact values, upper bounds (<) and lower bounds (>)."""
    table = Table(title="labels per task by censoring", title_justify="left")
    for column in ("task", "exact (=)", "upper bound (<)", "lower bound (>)"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in report.target_names:
        counts = report.censoring[task]
        table.add_row(task, *(str(counts[symbol]) for symbol in ("=", "<", ">")))
    return table


def print_report(report: TableReport) -> None:
    """Print a :class:`TableReport`: summary line, label counts (by censoring when any cell is a bound)
    and every problem."""
    console.print(f"[bold]{report.source}[/]", highlight=False)
    console.print(
        f"{report.file_rows} data rows, {report.rows} usable, {len(report.skipped)} skipped (unparsable "
        f"SMILES), {report.rows_without_labels} without any label; content hash {report.content_hash[:16]}",
        highlight=False,
    )
    for table in _counts_table(report):
        console.print(table)
    if any(counts["<"] or counts[">"] for counts in report.censoring.values()):
        console.print(_censoring_table(report))
    if report.problems:
        fatal = sum(problem.fatal for problem in report.problems)
        console.print(f"[bold red]{len(report.problems)} problem(s)[/] ({fatal} fatal for training):")
        for problem in report.problems:
            tag = "[red]error[/]" if problem.fatal else "[yellow]warning[/]"
            console.print(f"{tag} {problem.message}", highlight=False, soft_wrap=True)
    else:
        console.print("[green]no problems found[/]")


@app.command("list")
@user_errors
def list_datasets(
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Cache directory (default: $ADMET_HPO_CACHE)."
    ),
    json_output: bool = JsonOpt,
) -> None:
    """List the known data sets and whether each is already in the cache."""
    from admet_hpo.data.known.fetch import known_table_path
    from admet_hpo.data.known.registry import KNOWN_DATASETS

    if json_output:
        from admet_hpo.cli.json_output import DataListOutput, DatasetRecord, emit

        records = [
            DatasetRecord(
                name=dataset.name,
                summary=dataset.summary,
                target_cols=list(dataset.target_cols),
                source_files=len(dataset.sources),
                license=dataset.license,
                cached=known_table_path(dataset.name, cache_dir).is_file(),
                cache_path=str(known_table_path(dataset.name, cache_dir)),
            )
            for dataset in KNOWN_DATASETS.values()
        ]
        emit(DataListOutput(datasets=records))
        return
    table = Table(title="known data sets", title_justify="left")
    for column in ("name", "tasks", "source files", "license", "cached", "description"):
        table.add_column(column, no_wrap=column == "name")
    for dataset in KNOWN_DATASETS.values():
        cached = known_table_path(dataset.name, cache_dir).is_file()
        table.add_row(
            dataset.name,
            str(len(dataset.target_cols)),
            str(len(dataset.sources)) if dataset.sources else "built offline",
            dataset.license,
            "yes" if cached else "no",
            dataset.summary,
        )
    console.print(table)


@app.command("fetch")
@user_errors
def fetch(
    name: str = typer.Argument(..., help="Known data set: demo, biogen_adme, adme_multisource."),
    from_path: Path | None = typer.Option(
        None, "--from", help="Local copy of the source file, or a directory holding the source files."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Cache directory (default: $ADMET_HPO_CACHE)."
    ),
) -> None:
    """Build a known data set into the cache (checksums verified) and summarise it."""
    from admet_hpo.data.censoring import qualifier_columns
    from admet_hpo.data.known.fetch import fetch_known
    from admet_hpo.data.known.records import QUALIFIER_PATTERN
    from admet_hpo.data.known.registry import get_known
    from admet_hpo.data.loading import check_table
    from admet_hpo.data.table import TableSpec

    path = fetch_known(name, from_path=from_path, cache_dir=cache_dir)
    console.print(f"wrote [bold]{path}[/]", highlight=False)
    targets = get_known(name).target_cols
    spec = TableSpec(
        target_cols=targets,
        qualities=ALL_QUALITIES,
        require_experiment=True,
        require_condition=True,
        qualifier_cols=qualifier_columns(QUALIFIER_PATTERN, targets) if name != "demo" else {},
    )
    print_report(check_table(path, spec))


@app.command("check")
@user_errors
def check(
    file: Path = typer.Argument(..., help="CSV or Parquet table."),
    targets: list[str] | None = typer.Option(
        None,
        "--targets",
        "-t",
        help="Target columns (repeat or comma-separate); default: the numeric columns.",
    ),
    smiles_col: str = typer.Option("smiles", "--smiles-col"),
    qualities: list[str] | None = typer.Option(
        None,
        "--qualities",
        help="Allowed quality labels, best first (curriculum on): the column is required.",
    ),
    quality_col: str = typer.Option("quality", "--quality-col"),
    experiment_col: str = typer.Option("experiment", "--experiment-col"),
    condition_col: str = typer.Option("condition", "--condition-col"),
    split_col: str | None = typer.Option(None, "--split-col", help="Column with train/val/test to validate."),
    require_experiment: bool = typer.Option(
        False, "--require-experiment", help="Every row needs an experiment."
    ),
    require_condition: bool = typer.Option(False, "--require-condition", help="Every row needs a condition."),
    strict: bool = typer.Option(False, "--strict", help="Unparsable SMILES are errors, not skipped rows."),
    qualifier_cols: str | None = typer.Option(
        None,
        "--qualifier-cols",
        help="Qualifier column per target (=, <, >), named by a pattern such as '{target} modifier'.",
    ),
    json_output: bool = JsonOpt,
) -> None:
    """Validate a table: rows, labels per task / experiment / condition / quality, every problem.

    Exits with status 1 when any problem is found.
    """
    from admet_hpo.data.censoring import TARGET_PLACEHOLDER, qualifier_columns
    from admet_hpo.data.loading import check_table, guess_target_columns
    from admet_hpo.data.table import TableSpec

    if qualifier_cols is not None and TARGET_PLACEHOLDER not in qualifier_cols:
        raise typer.BadParameter(
            f"{qualifier_cols!r} must contain {TARGET_PLACEHOLDER}, e.g. '{TARGET_PLACEHOLDER} modifier'",
            param_hint="--qualifier-cols",
        )
    target_cols = _split_names(targets)
    if not target_cols:
        role_columns = {smiles_col, quality_col, experiment_col, condition_col, split_col}
        target_cols = guess_target_columns(file, exclude={c for c in role_columns if c})
        if not json_output:
            console.print(f"targets (numeric columns): {', '.join(target_cols) or '(none)'}", highlight=False)
    spec = TableSpec(
        target_cols=target_cols,
        smiles_col=smiles_col,
        quality_col=quality_col,
        experiment_col=experiment_col,
        condition_col=condition_col,
        split_col=split_col,
        qualities=_split_names(qualities) or None,
        require_experiment=require_experiment,
        require_condition=require_condition,
        strict=strict,
        qualifier_cols=qualifier_columns(qualifier_cols, target_cols),
    )
    report = check_table(file, spec)
    if json_output:
        from admet_hpo.cli.json_output import DataCheckOutput, emit

        emit(DataCheckOutput(ok=report.ok, report=report))
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)
