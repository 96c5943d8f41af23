"""``hpo data``: fetch known public data sets and check tables (filled in by the data layer)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Fetch known public data sets and check data tables.", no_args_is_help=True)
