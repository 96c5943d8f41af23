"""Legacy training-config keys load with a deprecation warning, mean the same, and migrate by CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config import load_training_config
from admet_hpo.config.legacy import rewrite_legacy_keys, upgrade_legacy_training_mapping
from admet_hpo.errors import ConfigError

LEGACY = """\
data: {dataset: demo}
optimization:
  task_sampling_alpha: 0.7
curriculum:
  patience: 2
  qualities: [high, low]
"""

CURRENT = """\
data: {dataset: demo}
sampling:
  task_oversampling: {enabled: true, alpha: 0.7}
  curriculum: {enabled: true, patience: 2, qualities: [high, low]}
"""


def write(tmp_path: Path, text: str, name: str = "train.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_legacy_keys_load_as_the_current_schema_with_one_warning_each(tmp_path: Path) -> None:
    legacy_path = write(tmp_path, LEGACY, "legacy.yaml")
    with pytest.warns(DeprecationWarning) as caught:
        legacy = load_training_config(legacy_path)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "legacy.yaml: 'curriculum' is deprecated; use 'sampling.curriculum'" in messages[0]
    assert "'optimization.task_sampling_alpha' is deprecated; use 'sampling.task_oversampling'" in messages[1]
    current = load_training_config(write(tmp_path, CURRENT, "current.yaml"))
    assert legacy.sampling == current.sampling
    assert legacy.sampling.task_oversampling.alpha == 0.7
    assert legacy.sampling.curriculum.enabled is True


def test_current_configs_load_without_deprecation_warnings(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    load_training_config(write(tmp_path, CURRENT))
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_explicit_enabled_in_a_legacy_curriculum_block_is_kept_and_input_is_not_mutated() -> None:
    raw = {"data": {"dataset": "demo"}, "curriculum": {"enabled": False, "patience": 4}}
    upgraded, rewrites = rewrite_legacy_keys(raw, "x.yaml")
    assert upgraded["sampling"]["curriculum"] == {"enabled": False, "patience": 4}
    assert [(r.old, r.new) for r in rewrites] == [("curriculum", "sampling.curriculum")]
    assert "curriculum" in raw and "sampling" not in raw


def test_null_alpha_means_oversampling_off_and_other_optimization_keys_stay() -> None:
    raw = {"optimization": {"task_sampling_alpha": None, "other": 1}}
    upgraded, _ = rewrite_legacy_keys(raw, "x.yaml")
    assert upgraded == {"optimization": {"other": 1}, "sampling": {"task_oversampling": {"enabled": False}}}


def test_a_null_legacy_curriculum_block_turns_the_curriculum_on_with_defaults() -> None:
    upgraded, _ = rewrite_legacy_keys({"curriculum": None}, "x.yaml")
    assert upgraded == {"sampling": {"curriculum": {"enabled": True}}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"optimization": {"task_sampling_alpha": 0.5}, "sampling": {"task_oversampling": {"alpha": 0.2}}},
            r"x\.yaml: both the deprecated key 'optimization\.task_sampling_alpha' and its replacement "
            r"'sampling\.task_oversampling' are set",
        ),
        (
            {"curriculum": {"patience": 2}, "sampling": {"curriculum": {"enabled": False}}},
            r"x\.yaml: both the deprecated key 'curriculum' and its replacement 'sampling\.curriculum'",
        ),
        ({"curriculum": [1, 2]}, r"x\.yaml: curriculum: expected a mapping, got list"),
        ({"curriculum": {}, "sampling": 3}, r"x\.yaml: sampling: expected a mapping, got int"),
    ],
)
def test_conflicting_or_malformed_legacy_keys_are_config_errors(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        upgrade_legacy_training_mapping(raw, "x.yaml")


def test_migrate_prints_the_upgraded_yaml(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "migrate", str(write(tmp_path, LEGACY))])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == yaml.safe_load(CURRENT)
    assert "moved 'curriculum' -> 'sampling.curriculum'" in result.stderr


def test_migrate_writes_a_file_that_loads_identically_and_refuses_to_overwrite(tmp_path: Path) -> None:
    old, new = write(tmp_path, LEGACY, "old.yaml"), tmp_path / "new.yaml"
    runner = CliRunner()
    assert runner.invoke(app, ["config", "migrate", str(old), "-o", str(new)]).exit_code == 0
    with pytest.warns(DeprecationWarning):
        legacy = load_training_config(old)
    assert load_training_config(new) == legacy.model_copy(update={"output_dir": legacy.output_dir})
    again = runner.invoke(app, ["config", "migrate", str(old), "-o", str(new)])
    assert again.exit_code == 2
    assert "new.yaml: already exists; pass --force" in again.stderr
    assert runner.invoke(app, ["config", "migrate", str(old), "-o", str(new), "--force"]).exit_code == 0


def test_migrate_reports_a_file_without_legacy_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "migrate", str(write(tmp_path, CURRENT))])
    assert result.exit_code == 0
    assert "no legacy keys; nothing to migrate" in result.stderr
    assert yaml.safe_load(result.stdout) == yaml.safe_load(CURRENT)


def test_migrate_rejects_a_result_that_is_not_a_valid_training_config(tmp_path: Path) -> None:
    path = write(tmp_path, "data: {dataset: demo}\ncurriculum: {patiense: 2}\n")
    result = CliRunner().invoke(app, ["config", "migrate", str(path)])
    assert result.exit_code == 2
    assert "(after migration): sampling.curriculum.patiense: unknown key" in result.stderr
