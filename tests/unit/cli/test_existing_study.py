"""Commands that read an existing study (status, best, export, replay) create nothing: without the SQLite
file, or without this study version in the storage, they stop with status 2 and say to run `hpo run`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app

READERS = [["status"], ["best"], ["export", "-o", "out.yaml"], ["replay", "--trial", "0"]]


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    space = {"parameters": {"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-2}}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    study = {"name": "reader", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**study, "storage": "sqlite:///optuna.db"}))
    return tmp_path / "s.yaml"


def invoke(command: list[str], study_file: Path):
    return CliRunner().invoke(app, [command[0], str(study_file), *command[1:]], env={"COLUMNS": "250"})


@pytest.mark.parametrize("command", READERS, ids=lambda command: command[0])
def test_without_the_storage_file_nothing_is_created(command: list[str], study_file: Path) -> None:
    result = invoke(command, study_file)
    assert result.exit_code == 2, result.output
    assert f"(run 'hpo run {study_file.resolve()}' first" in result.output
    assert "Traceback" not in result.output
    assert not (study_file.parent / "optuna.db").exists()


@pytest.mark.parametrize("command", READERS, ids=lambda command: command[0])
def test_a_storage_without_this_study_version_is_named(command: list[str], study_file: Path) -> None:
    optuna.create_study(study_name="another-study", storage=f"sqlite:///{study_file.parent / 'optuna.db'}")
    result = invoke(command, study_file)
    assert result.exit_code == 2, result.output
    source = study_file.resolve()
    expected = f"{source}: the storage has no study for this search space yet (run 'hpo run {source}')"
    assert expected in result.output and "Traceback" not in result.output
