"""`hpo validate` and `hpo schema` end to end through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.cli.json_output import output_schemas
from admet_hpo.config.schemas import generate_schemas
from admet_hpo.errors import ConfigError
from admet_hpo.search.validation import detect_kind

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}
runner = CliRunner()


def test_valid_files_print_ok_and_exit_zero(write_yaml: Callable[..., Path]) -> None:
    space = write_yaml("space.yaml", {"parameters": {"alpha": ALPHA}})
    study = write_yaml(
        "study.yaml",
        {
            "name": "s",
            "search_spaces": ["space.yaml"],
            "data": {"dataset": "demo"},
            "n_trials": 1,
            "storage": "postgresql+psycopg://hpo:topsecret@db/optuna",
        },
    )
    training = write_yaml("train.yaml", {"data": {"dataset": "demo"}, "model": {"depth": 2}})
    result = runner.invoke(app, ["validate", str(space), str(study), str(training)])
    assert result.exit_code == 0, result.output
    assert f"OK   {space}: search space: 1 parameter(s)" in result.output
    assert f"OK   {study}: study 's' -> Optuna study 's-" in result.output
    assert "hpo:***@db" in result.output and "topsecret" not in result.output
    assert f"OK   {training}: training config" in result.output
    # alpha is searched while task oversampling is off in the base config: a warning, not an error
    assert "warning:" in result.output and "sampling.task_oversampling.enabled is false" in result.output


def test_invalid_files_print_every_error_and_exit_two(write_yaml: Callable[..., Path]) -> None:
    good = write_yaml("good.yaml", {"parameters": {"alpha": ALPHA}})
    bad = write_yaml(
        "bad.yaml",
        {
            "parameters": {
                "a": {**ALPHA, "low": 3.0},
                "b": {**ALPHA, "path": "sampling.nope", "when": {"param": "c", "equals": 1}},
            }
        },
    )
    study = write_yaml(
        "study.yaml", {"name": "s", "search_spaces": ["bad.yaml"], "data": {"dataset": "demo"}}
    )
    result = runner.invoke(app, ["validate", str(good), str(bad), str(study)])
    assert result.exit_code == 2
    assert f"OK   {good}" in result.output
    assert f"FAIL {bad}" in result.output and f"FAIL {study}" in result.output
    assert f"{bad}: parameters.a: low (3.0) must be less than high (1.0)" in result.output
    assert f"{bad}: parameters.b.path: not a training config setting" in result.output
    assert f"{study}: <top level>: give n_trials, timeout or both" in result.output
    assert "2 of 3 file(s) have errors" in result.output


def test_kind_option_and_detection(write_yaml: Callable[..., Path]) -> None:
    space = write_yaml("space.yaml", {"parameters": {"alpha": ALPHA}})
    result = runner.invoke(app, ["validate", "--kind", "study", str(space)])
    assert result.exit_code == 2 and "parameters: unknown key" in result.output
    unknown = write_yaml("odd.yaml", {"something": 1})
    with pytest.raises(ConfigError, match=r"odd\.yaml: cannot tell .* \(something\); pass --kind"):
        detect_kind(unknown)
    assert detect_kind(write_yaml("t.yaml", {"data": {"dataset": "demo"}, "sampling": {}})) == "training"
    assert detect_kind(write_yaml("s.yaml", {"name": "x", "data": {"dataset": "demo"}})) == "study"
    missing = runner.invoke(app, ["validate", "absent.yaml"])
    assert missing.exit_code == 2 and "absent.yaml: file not found" in missing.output


def test_schema_command_writes_the_generated_schemas(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    expected = generate_schemas()
    assert sorted(path.name for path in (tmp_path / "out").iterdir() if path.is_file()) == sorted(expected)
    assert sorted(path.name for path in (tmp_path / "out" / "output").iterdir()) == sorted(output_schemas())
    for name, text in expected.items():
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == text
    study_schema = json.loads(expected["study.schema.json"])
    assert "training" in study_schema["properties"] and "TrainingConfig" in study_schema["$defs"]
    space_schema = json.loads(expected["search_space.schema.json"])
    when = space_schema["$defs"]["WhenCondition"]["properties"]
    assert "in" in when and "in_" not in when
    assert "model.depth" in space_schema["$defs"]["IntParameter"]["properties"]["path"]["enum"]


def test_legacy_training_keys_are_detected_and_reported_as_warnings(write_yaml: Callable[..., Path]) -> None:
    legacy = write_yaml(
        "old.yaml",
        {"data": {"dataset": "demo"}, "optimization": {"task_sampling_alpha": 0.3}, "curriculum": {}},
    )
    assert detect_kind(legacy) == "training"
    result = runner.invoke(app, ["validate", str(legacy)])
    assert result.exit_code == 0, result.output
    assert (
        "'optimization.task_sampling_alpha' is deprecated; use 'sampling.task_oversampling'" in result.output
    )
    assert "'curriculum' is deprecated; use 'sampling.curriculum'" in result.output
    space = write_yaml("space.yaml", {"parameters": {"alpha": ALPHA}})
    study = write_yaml(
        "study.yaml",
        {
            "name": "s",
            "search_spaces": ["space.yaml"],
            "n_trials": 1,
            "training": {"data": {"dataset": "demo"}, "optimization": {"task_sampling_alpha": 0.3}},
        },
    )
    result = runner.invoke(app, ["validate", str(space), str(study)])
    assert result.exit_code == 0, result.output
    assert f"{study}: training: 'optimization.task_sampling_alpha' is deprecated" in result.output
    # the legacy key enabled task oversampling, so searching alpha is not flagged as ineffective
    assert "sampling.task_oversampling.enabled is false" not in result.output
