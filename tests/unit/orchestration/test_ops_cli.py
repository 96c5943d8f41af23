"""Error paths of `hpo nightly`, `hpo schedule` and `hpo reap`: exit status 2, a message naming the cause,
passwords masked; the first lines of `hpo run` (locations, masked). Nothing trains."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(
        yaml.safe_dump(
            {"parameters": {"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-2}}}
        )
    )
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "nt", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
        )
    )
    return path


def invoke(*arguments: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "250", **(env or {})})


def test_nightly_rejects_a_date_that_does_not_exist(study_file: Path) -> None:
    result = invoke("nightly", str(study_file), "--date", "2026-02-30")
    assert result.exit_code == 2
    assert "error: --date '2026-02-30': expected a date as YYYY-MM-DD" in result.output


def test_schedule_rejects_an_invalid_cron_override(study_file: Path) -> None:
    result = invoke("schedule", str(study_file), "--cron", "0 25 * * *")
    assert result.exit_code == 2
    assert "error: cron expression '0 25 * * *': " in result.output and "maximum value (23)" in result.output


def test_schedule_fails_at_start_on_an_unreachable_storage_without_showing_its_password(
    study_file: Path,
) -> None:
    url = "postgresql+psycopg://hpo:hunter2@127.0.0.1:1/optuna?connect_timeout=1"
    result = invoke("schedule", str(study_file), "--storage", url)
    assert result.exit_code == 2
    assert "cannot open study storage postgresql+psycopg://hpo:***@127.0.0.1:1/optuna" in result.output
    assert "hunter2" not in result.output


def test_reap_needs_an_existing_storage(study_file: Path) -> None:
    result = invoke("reap", str(study_file))
    assert result.exit_code == 2
    assert "error: no study storage at" in result.output and "optuna.db" in result.output
    assert not (study_file.parent / "runs").exists()  # nothing created


def test_reap_reports_a_storage_without_the_study_and_reads_the_storage_from_the_environment(
    study_file: Path,
) -> None:
    other = study_file.parent / "other.db"
    optuna.create_study(study_name="unrelated", storage=f"sqlite:///{other}")
    result = invoke("reap", str(study_file), env={"ADMET_HPO_STORAGE": f"sqlite:///{other}"})
    assert result.exit_code == 2
    assert f"the storage sqlite:///{other} has no version of study nt" in " ".join(result.output.split())


def test_hpo_run_says_first_where_storage_tracking_and_outputs_are_with_passwords_masked(
    study_file: Path, tmp_path: Path
) -> None:
    storage = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/optuna"
    tracking = "http://alice:hunter2@127.0.0.1:1"
    result = invoke(
        "run", str(study_file), "--storage", storage, "--output-dir", str(tmp_path / "out"),
        env={"MLFLOW_TRACKING_URI": tracking},
    )  # fmt: skip
    assert result.exit_code == 2  # nothing answers on port 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["storage:", "postgresql+psycopg://bob:***@127.0.0.1:1/optuna"]
    assert lines[1].split() == ["tracking:", "http://alice:***@127.0.0.1:1"]
    assert lines[2].split() == ["outputs:", str(tmp_path / "out")]
    assert "s3cret" not in result.output and "hunter2" not in result.output
