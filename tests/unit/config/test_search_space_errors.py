"""Every search-space validation error names the file and the key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from admet_hpo.config.search_space import load_search_space, load_search_spaces
from admet_hpo.errors import ConfigError

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}


def _error(write_space: Callable[..., Path], parameters: dict[str, Any]) -> tuple[Path, str]:
    path = write_space(parameters)
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    return path, str(info.value)


@pytest.mark.parametrize(
    ("definition", "key", "expected"),
    [
        ({"path": "model.deptj", "type": "int", "low": 1, "high": 3}, "x.path", "model has no key 'deptj'"),
        ({"path": "nonsense.depth", "type": "int", "low": 1, "high": 3}, "x.path", "has no key 'nonsense'"),
        (
            {"path": "model.depth.value", "type": "int", "low": 1, "high": 3},
            "x.path",
            "model.depth is a value",
        ),
        ({"path": "sampling.curriculum", "type": "int", "low": 1, "high": 3}, "x.path", "a section"),
        (
            {"path": "data.smiles_col", "type": "categorical", "choices": ["a"]},
            "x.path",
            "cannot be searched",
        ),
        ({"path": "split.seed", "type": "int", "low": 0, "high": 3}, "x.path", "cannot be searched"),
        ({**ALPHA, "low": 0.5, "high": 0.5}, "x", r"low \(0.5\) must be less than high \(0.5\)"),
        ({**ALPHA, "low": 0.9, "high": 0.1}, "x", "must be less than high"),
        ({"path": "model.depth", "type": "int", "low": 4, "high": 2}, "x", "must be less than high"),
        ({**ALPHA, "low": 0.0, "log": True}, "x", r"log: true needs low > 0 \(got low 0.0\)"),
        ({**ALPHA, "low": -1.0, "log": True}, "x", "log: true needs low > 0"),
        ({"path": "sampling.seed", "type": "int", "low": 0, "high": 8, "log": True}, "x", "needs low >= 1"),
        ({**ALPHA, "step": 0.3}, "x", "step 0.3 must divide high - low"),
        ({**ALPHA, "step": 2.0}, "x", "step 2.0 must divide high - low"),
        ({**ALPHA, "low": 0.1, "step": 0.1, "log": True}, "x", "step cannot be combined with log"),
        ({**ALPHA, "step": 0.0}, "x.step", "greater than 0"),
        (
            {"path": "trainer.batch_size", "type": "int", "low": 16, "high": 100, "step": 16},
            "x",
            "step 16 must",
        ),
        (
            {"path": "trainer.batch_size", "type": "int", "low": 16, "high": 128, "step": 0},
            "x.step",
            "greater",
        ),
        (
            {"path": "trainer.batch_size", "type": "int", "low": 16, "high": 128, "step": 2, "log": True},
            "x",
            "step cannot be combined with log",
        ),
        (
            {"path": "model.activation", "type": "categorical", "choices": []},
            "x.choices",
            "at least one value",
        ),
        (
            {"path": "model.activation", "type": "categorical", "choices": ["relu", "relu"]},
            "x.choices",
            "repeat",
        ),
        (
            {"path": "sampling.batches.condition_ratio", "type": "simplex", "keys": ["a"]},
            "x.keys",
            "at least 2",
        ),
        (
            {"path": "sampling.batches.condition_ratio", "type": "simplex", "keys": ["a", "a"]},
            "x.keys",
            "distinct",
        ),
        (
            {"path": "model.depth", "type": "float", "low": 1.0, "high": 3.0},
            "x",
            "float parameter cannot set model.depth",
        ),
        ({"path": "model.batch_norm", "type": "int", "low": 0, "high": 1}, "x", "int parameter cannot set"),
        (
            {"path": "sampling.batches.leaky", "type": "simplex", "keys": ["a", "b"]},
            "x",
            "needs a mapping of ratios",
        ),
        (
            {"path": "sampling.curriculum.phase_weights", "type": "simplex", "keys": ["a", "b"]},
            "x",
            "mapping",
        ),
        (
            {"path": "model.activation", "type": "categorical", "choices": ["relu", "swish"]},
            "x",
            "choice 'swish'",
        ),
        ({"path": "trainer.batch_size", "type": "categorical", "choices": [32, "64"]}, "x", "choice '64'"),
        ({"path": "model.batch_norm", "type": "categorical", "choices": [True, 1]}, "x", "choice 1 is not"),
        ({"path": "model.dropout", "type": "float", "low": 0.0, "high": 1.0}, "x", "high 1.0 is not a valid"),
        (
            {"path": "model.depth", "type": "int", "low": 0, "high": 3},
            "x",
            "low 0 is not a valid model.depth",
        ),
        ({"path": "model.depth", "type": "banana", "low": 0, "high": 3}, "x", "Input tag 'banana'"),
        ({"path": "model.depth", "low": 0, "high": 3}, "x.type", "Field required"),
        ({**ALPHA, "lo": 0.0}, "x.lo", "unknown key"),
        (
            {**ALPHA, "when": {"param": "y", "equals": 1, "in": [1]}},
            "x.when",
            "exactly one of 'equals' or 'in'",
        ),
        ({**ALPHA, "when": {"param": "y"}}, "x.when", "exactly one of 'equals' or 'in'"),
    ],
)
def test_parameter_errors_name_file_and_key(
    write_space: Callable[..., Path], definition: dict[str, Any], key: str, expected: str
) -> None:
    path, message = _error(write_space, {"x": definition})
    assert re.search(
        rf"^{re.escape(str(path))}: parameters\.{re.escape(key)}: .*{expected}", message, re.M
    ), message


def test_bad_parameter_name_and_empty_file(
    write_space: Callable[..., Path], write_yaml: Callable[..., Path]
) -> None:
    path, message = _error(write_space, {"bad-name": ALPHA})
    assert f"{path}: parameters.bad-name.[key]" in message
    empty = write_yaml("empty.yaml", {"parameters": {}})
    with pytest.raises(ConfigError, match=rf"{re.escape(str(empty))}: parameters: .*at least 1"):
        load_search_space(empty)
    missing = write_yaml("missing.yaml", {"params": {"x": ALPHA}})
    with pytest.raises(ConfigError, match=r"missing\.yaml: parameters: Field required"):
        load_search_space(missing)


def test_every_problem_of_a_file_is_reported_together(write_space: Callable[..., Path]) -> None:
    path, message = _error(
        write_space,
        {
            "a": {**ALPHA, "low": 2.0},
            "b": {"path": "model.deptj", "type": "int", "low": 1, "high": 3},
            "c": {
                "path": "model.depth",
                "type": "int",
                "low": 1,
                "high": 3,
                "when": {"param": "nope", "equals": 1},
            },
        },
    )
    lines = message.splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{path}: parameters.") for line in lines)
    assert "parameters.c.when.param: unknown parameter 'nope'" in message


@pytest.mark.parametrize(
    ("parameters", "key", "expected"),
    [
        ({"x": {**ALPHA, "when": {"param": "y", "equals": True}}}, "x.when.param", "unknown parameter 'y'"),
        ({"x": {**ALPHA, "when": {"param": "x", "equals": 1}}}, "x.when.param", "cannot depend on itself"),
        (
            {
                "x": ALPHA,
                "y": {
                    "path": "model.depth",
                    "type": "int",
                    "low": 1,
                    "high": 3,
                    "when": {"param": "x", "equals": 1},
                },
            },
            "y.when.param",
            "'x' is a float parameter",
        ),
        (
            {
                "flag": {
                    "path": "sampling.task_oversampling.enabled",
                    "type": "categorical",
                    "choices": [True, False],
                },
                "x": {**ALPHA, "when": {"param": "flag", "equals": "yes"}},
            },
            "x.when",
            r"never holds: 'flag' cannot take \['yes'\]",
        ),
        (
            {
                "layers": {"path": "model.ffn_num_layers", "type": "int", "low": 1, "high": 3},
                "x": {**ALPHA, "when": {"param": "layers", "in": [4, 5]}},
            },
            "x.when",
            "never holds",
        ),
        (
            {
                "a": {
                    "path": "model.depth",
                    "type": "int",
                    "low": 1,
                    "high": 3,
                    "when": {"param": "b", "equals": 1},
                },
                "b": {
                    "path": "sampling.seed",
                    "type": "int",
                    "low": 1,
                    "high": 3,
                    "when": {"param": "a", "equals": 1},
                },
            },
            "a.when",
            r"circular condition \(a -> b -> a\)",
        ),
        (
            {"x": ALPHA, "y": {**ALPHA, "low": 0.1}},
            "y.path",
            "'sampling.task_oversampling.alpha' is already set by parameter 'x'",
        ),
    ],
)
def test_cross_parameter_errors(
    write_space: Callable[..., Path], parameters: dict[str, Any], key: str, expected: str
) -> None:
    path, message = _error(write_space, parameters)
    assert re.search(
        rf"^{re.escape(str(path))}: parameters\.{re.escape(key)}: .*{expected}", message, re.M
    ), message


def test_combining_files_rejects_a_name_or_path_defined_twice_naming_both_files(
    write_space: Callable[..., Path],
) -> None:
    first = write_space({"alpha": ALPHA}, name="first.yaml")
    same_name = write_space(
        {"alpha": {"path": "model.depth", "type": "int", "low": 1, "high": 3}}, name="second.yaml"
    )
    same_path = write_space({"oversampling": {**ALPHA, "high": 0.5}}, name="third.yaml")
    with pytest.raises(ConfigError) as info:
        load_search_spaces([first, same_name, same_path])
    message = str(info.value)
    assert f"{same_name}: parameters.alpha: parameter name already defined in {first}" in message
    assert (
        f"{same_path}: parameters.oversampling.path: 'sampling.task_oversampling.alpha' is already set by "
        f"parameter 'alpha' in {first}"
    ) in message


def test_errors_of_several_files_are_reported_together(write_space: Callable[..., Path]) -> None:
    bad_one = write_space({"x": {**ALPHA, "low": 3.0}}, name="one.yaml")
    bad_two = write_space({"y": {"path": "model.nope", "type": "int", "low": 1, "high": 2}}, name="two.yaml")
    with pytest.raises(ConfigError) as info:
        load_search_spaces([bad_one, bad_two])
    assert f"{bad_one}: parameters.x:" in str(info.value)
    assert f"{bad_two}: parameters.y.path:" in str(info.value)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_search_space(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("parameters: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML at line"):
        load_search_space(broken)
