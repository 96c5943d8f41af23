"""``--set key.path=value``: paths checked like search-space paths, values typed by the config model."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.overrides import apply_overrides, override_study, parse_assignment
from admet_hpo.config.study import load_study
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model.depth=4", ("model.depth", 4)),
        ("optim.max_lr=1e-3", ("optim.max_lr", 1e-3)),
        ("model.batch_norm=true", ("model.batch_norm", True)),
        ("trainer.early_stopping_patience=null", ("trainer.early_stopping_patience", None)),
        ("sampling.curriculum.qualities=[high, low]", ("sampling.curriculum.qualities", ["high", "low"])),
        (
            "sampling.batches.condition_ratio={human: 0.7, rat: 0.3}",
            ("sampling.batches.condition_ratio", {"human": 0.7, "rat": 0.3}),
        ),
        ("model.activation=relu", ("model.activation", "relu")),
        ("sampling.batches.condition_col=2024", ("sampling.batches.condition_col", "2024")),
        ("trainer.devices=2", ("trainer.devices", 2)),
    ],
)
def test_values_are_read_as_yaml_and_typed_by_the_setting(text: str, expected: tuple[str, Any]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model.depth", "--set 'model.depth': expected key.path=value"),
        ("=3", "--set '=3': expected key.path=value"),
        ("model.dpth=3", "--set model.dpth: not a training config setting: model has no key 'dpth'"),
        ("model=3", "--set model: a section, not a single setting"),
        ("data.path=x.csv", "--set data.path: data, split, output_dir cannot be set from the command line"),
        ("model.depth=deep", "--set model.depth=deep: not a valid model.depth"),
        ("model.depth=0", "--set model.depth=0: not a valid model.depth: Input should be greater than"),
    ],
)
def test_bad_paths_and_values_are_errors_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_assignment(text)


def test_overrides_apply_in_order_and_the_whole_config_is_validated() -> None:
    base = TrainingConfig.model_validate({"data": {"dataset": "demo"}})
    config = apply_overrides(
        base, ["model.depth=4", "model.depth=5", "trainer.max_epochs=7"], source="c.yaml"
    )
    assert (config.model.depth, config.trainer.max_epochs) == (5, 7)
    assert base.model.depth != 5
    with pytest.raises(ConfigError, match=r"c\.yaml with --set trainer\.max_epochs=1: .*must exceed"):
        apply_overrides(base, ["trainer.max_epochs=1"], source="c.yaml")


def test_a_study_override_changes_the_base_config_but_not_a_searched_path(
    write_yaml: Callable[..., Path],
) -> None:
    write_yaml(
        "space.yaml", {"parameters": {"depth": {"path": "model.depth", "type": "int", "low": 2, "high": 4}}}
    )
    study = load_study(
        write_yaml(
            "study.yaml",
            {"name": "s", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1},
        )
    )
    assert override_study(study, ["trainer.max_epochs=3"]).base_training.trainer.max_epochs == 3
    with pytest.raises(ConfigError, match=r"--set model\.depth: searched by parameter 'depth'"):
        override_study(study, ["model.depth=3"])


def test_train_and_run_report_a_bad_path_without_running() -> None:
    runner = CliRunner()
    train = runner.invoke(app, ["train", str(REPO / "configs" / "demo.yaml"), "--set", "model.dpth=3"])
    assert train.exit_code == 2 and "--set model.dpth: not a training config setting" in train.output
    run = runner.invoke(app, ["run", str(REPO / "studies" / "quickstart.yaml"), "--set", "trainer.epochs=3"])
    assert run.exit_code == 2 and "--set trainer.epochs: not a training config setting" in run.output
    assert "Traceback" not in train.output + run.output
    several = runner.invoke(
        app, ["run", str(REPO / "studies" / "quickstart.yaml"), "--workers", "2", "--set", "model.depth=3"]
    )
    assert several.exit_code == 2 and "--set works with one worker" in several.output
