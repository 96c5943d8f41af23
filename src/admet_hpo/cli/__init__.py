"""The ``hpo`` command line. Each module adds one group of commands; heavy imports stay inside commands."""

from admet_hpo.cli.main import app, main

__all__ = ["app", "main"]
