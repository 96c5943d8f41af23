"""Fixtures for the data-layer unit tests: small CSV files and the demo table."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from admet_hpo.data.known import demo
from admet_hpo.data.loading import load_table
from admet_hpo.data.table import MoleculeTable, TableSpec


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write dedented ``text`` to ``tmp_path / name`` and return the path."""

    def write(text: str, name: str = "table.csv") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo table written once per test session."""
    path = tmp_path_factory.mktemp("demo") / "demo.csv"
    demo.build_demo().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def demo_table(demo_csv: Path) -> MoleculeTable:
    """The demo table loaded with experiment, condition and quality required."""
    spec = TableSpec(
        target_cols=demo.TARGETS,
        qualities=("high", "medium", "low"),
        require_experiment=True,
        require_condition=True,
    )
    return load_table(demo_csv, spec)
