"""Helpers for search-space and study tests: YAML files written into a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

WriteYaml = Callable[[str, dict[str, Any]], Path]


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def write_yaml(tmp_path: Path) -> WriteYaml:
    """Write ``content`` as YAML to ``tmp_path / name`` (folders created) and return the path."""

    def write(name: str, content: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_space(write_yaml: WriteYaml) -> Callable[..., Path]:
    """Write a search-space file with the given ``parameters`` mapping."""

    def write(parameters: dict[str, Any], name: str = "space.yaml") -> Path:
        return write_yaml(name, {"parameters": parameters})

    return write
