"""``hpo data list / fetch / check``: output, exit codes and user errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from admet_hpo.cli.main import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list_shows_known_sets_and_cache_state(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "list", "--cache-dir", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("demo", "biogen_adme", "adme_multisource"):
        assert name in result.output
    assert " yes " not in result.output


def test_fetch_demo_prints_path_and_summary(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "demo", "--cache-dir", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "known" / "demo-v1.csv") in result.output
    assert "labels per task by experiment" in result.output and "lab_c" in result.output
    assert "labels per task by quality" in result.output
    assert "no problems found" in result.output


def test_fetch_errors_are_user_errors(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["data", "fetch", "biogen_adme", "--from", str(tmp_path), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "ADME_public_set_3521.csv not found" in result.output
    assert "Traceback" not in result.output


def test_check_lists_problems_and_exits_1(runner: CliRunner, write_csv) -> None:
    path = write_csv("smiles,a,b,quality\nCCO,1,2,high\nC1CC,x,3,meh\n")
    result = runner.invoke(
        app, ["data", "check", str(path), "--targets", "a,b", "--qualities", "high,low"], terminal_width=300
    )
    assert result.exit_code == 1
    assert "3 problem(s)" in result.output
    assert "warning" in result.output and "unparsable SMILES at line 3" in result.output
    assert "column 'a': 1 non-numeric value at line 3" in result.output
    assert "(found 'meh')" in result.output


def test_check_clean_table_exits_0_and_guesses_targets(runner: CliRunner, write_csv) -> None:
    path = write_csv("id,smiles,a,b,experiment\nm1,CCO,1,,lab1\nm2,CCN,,2,lab2\n")
    result = runner.invoke(app, ["data", "check", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "targets (numeric columns): a, b" in result.output
    assert "2 data rows, 2 usable" in result.output
    assert "no problems found" in result.output


def test_check_unreadable_file_is_a_user_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "table.txt"
    path.write_text("x")
    result = runner.invoke(app, ["data", "check", str(path), "--targets", "a"])
    assert result.exit_code == 2
    assert "unsupported table format '.txt'" in result.output


def test_check_counts_bounds_per_task_with_qualifier_columns(runner: CliRunner, write_csv) -> None:
    path = write_csv("smiles,a,a modifier,b\nCCO,1,<,>5\nCCN,2,,3\nCCC,3,=,<=1\n")
    result = runner.invoke(
        app,
        ["data", "check", str(path), "--qualifier-cols", "{target} modifier", "-t", "a"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "labels per task by censoring" in result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines()]
    assert ["a", "2", "1", "0"] in rows  # task, exact, '<', '>'
    assert ["a", "3"] in rows  # the label count table
    guessed = runner.invoke(app, ["data", "check", str(path)], terminal_width=200)
    assert "targets (numeric columns): a, b" in guessed.output  # qualified cells count as numbers
    assert "upper bound (<)" in guessed.output


def test_check_rejects_a_qualifier_pattern_without_the_placeholder(runner: CliRunner, write_csv) -> None:
    path = write_csv("smiles,a\nCCO,1\n")
    result = runner.invoke(
        app, ["data", "check", str(path), "--qualifier-cols", "modifier"], terminal_width=200
    )
    assert result.exit_code == 2
    assert "must contain {target}" in result.output and "Traceback" not in result.output


def test_check_reports_a_named_target_without_labels(runner: CliRunner, write_csv) -> None:
    path = write_csv("smiles,y,z\nCCO,1,\nCCN,2,\n")
    result = runner.invoke(app, ["data", "check", str(path), "-t", "y,z"], terminal_width=300)
    assert result.exit_code == 1, result.output
    assert f"{path}: column 'z': no labels: every cell is empty" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("header", ["smiles,y, y", "smiles,y,smiles"])
def test_check_refuses_duplicate_column_names(runner: CliRunner, write_csv, header: str) -> None:
    path = write_csv(header + "\nCCO,1,2\n")
    result = runner.invoke(app, ["data", "check", str(path), "-t", "y"], terminal_width=300)
    assert result.exit_code == 2, result.output
    assert f"error: {path}: line 1: column name" in result.output and "appears twice" in result.output
    assert "Traceback" not in result.output


def test_check_names_file_column_and_line_of_a_non_plain_number(runner: CliRunner, write_csv) -> None:
    path = write_csv("smiles,y\nCCO,1\nCCN,1_000\nCCC,１２\n")
    result = runner.invoke(app, ["data", "check", str(path), "-t", "y"], terminal_width=300)
    assert result.exit_code == 1, result.output
    assert f"{path}: column 'y': 2 non-numeric values at lines 3, 4 (e.g. '1_000' at line 3" in result.output
