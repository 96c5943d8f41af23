"""Training configs load safely, resolve paths from their file, and name file and key on every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from admet_hpo.config import load_training_config
from admet_hpo.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths_resolve_from_the_config_folder(tmp_path: Path) -> None:
    config = load_training_config(write(tmp_path, "data: {path: t.csv, target_cols: [y]}\noutput_dir: out\n"))
    assert config.data.path == tmp_path.resolve() / "t.csv"
    assert config.output_dir == tmp_path.resolve() / "out"
    assert config.sampling.curriculum.enabled is False
    assert config.split.method == "scaffold"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: {dataset: demo}\nmodel: {depht: 3}\n", r"train\.yaml: model\.depht: unknown key"),
        (
            "data: {dataset: demo}\nsampling: {batches: {leaky: 1.5}}\n",
            r"sampling\.batches\.leaky: .*less than 1",
        ),
        ("data: {path: t.csv}\n", r"data: 'target_cols' is required"),
        ("data: {dataset: demo, path: t.csv}\n", r"data: give exactly one of"),
        ("split: {method: scaffold}\n", r"data: Field required"),
        ("data: {dataset: demo}\nsplit: {sizes: [0.5, 0.1, 0.1]}\n", r"split\.sizes: sizes must"),
        ("data: {dataset: demo}\ntrainer: {max_epochs: 2}\noptim: {warmup_epochs: 2}\n", r"must exceed"),
        (
            "data: {dataset: demo}\nsampling: {curriculum: {qualities: [a, a]}}\n",
            r"sampling\.curriculum\.qualities: .*unique",
        ),
        (
            "data: {dataset: demo}\nsampling: {curriculum: {phase_weights: {cool: [1]}}}\n",
            r"unknown phase 'cool'",
        ),
        ("data: {dataset: demo}\nsampling: {batches: {condition_ratio: {a: -1}}}\n", r"weights must be >= 0"),
        (
            "data: {dataset: demo}\nsplit: {method: scaffold, molecules_may_cross: true}\n",
            r"split: .*molecules_may_cross applies to method 'column' only \(method is 'scaffold'",
        ),
        ("- just\n- a list\n", r"expected a mapping"),
        ("data: [unclosed\n", r"invalid YAML at line"),
        ("data: !!python/object/apply:os.system [echo hi]\n", r"invalid YAML"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_training_config(write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_training_config(tmp_path / "nope.yaml")
