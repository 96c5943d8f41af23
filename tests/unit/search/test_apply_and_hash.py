"""apply_parameters writes dotted paths and revalidates; space_hash identifies a space definition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from admet_hpo.config.search_space import load_search_space, load_search_spaces
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError
from admet_hpo.search.space import apply_parameters, ineffective_parameters, space_hash

PARAMETERS: dict[str, Any] = {
    "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0},
    "ratio": {"path": "sampling.batches.condition_ratio", "type": "simplex", "keys": ["human", "rat", "dog"]},
    "depth": {"path": "model.depth", "type": "int", "low": 2, "high": 6},
    "max_epochs": {"path": "trainer.max_epochs", "type": "int", "low": 1, "high": 10},
    "activation": {"path": "model.activation", "type": "categorical", "choices": ["relu", "tanh"]},
}


@pytest.fixture
def base() -> TrainingConfig:
    return TrainingConfig.model_validate({"data": {"dataset": "demo"}, "optim": {"warmup_epochs": 2}})


def test_apply_sets_each_dotted_path_and_leaves_the_base_untouched(
    write_space: Callable[..., Path], base: TrainingConfig
) -> None:
    space = load_search_space(write_space(PARAMETERS))
    ratio = {"human": 0.5, "rat": 0.3, "dog": 0.2}
    config = apply_parameters(
        base, space, {"alpha": 0.25, "ratio": ratio, "depth": 5, "max_epochs": 7, "activation": "tanh"}
    )
    assert config.sampling.task_oversampling.alpha == 0.25
    assert config.sampling.batches.condition_ratio == ratio
    assert (config.model.depth, config.model.activation, config.trainer.max_epochs) == (5, "tanh", 7)
    assert config.model.message_hidden_dim == base.model.message_hidden_dim
    assert base.sampling.task_oversampling.alpha == 0.5 and base.model.depth == 3
    partial = apply_parameters(base, space, {"depth": 4})
    assert partial.model.depth == 4 and partial.sampling.task_oversampling.alpha == 0.5


def test_values_that_break_the_config_are_a_clear_error(
    write_space: Callable[..., Path], base: TrainingConfig
) -> None:
    space = load_search_space(write_space(PARAMETERS))
    with pytest.raises(ConfigError, match=r"trainer\.max_epochs=2\).*\n.*must exceed optim\.warmup_epochs"):
        apply_parameters(base, space, {"max_epochs": 2})
    with pytest.raises(ConfigError, match=r"unknown search-space parameters \['lr'\]"):
        apply_parameters(base, space, {"lr": 0.1})
    with pytest.raises(ConfigError, match=r"model\.depth: Input should be greater than or equal to 1"):
        apply_parameters(base, space, {"depth": 0})


def test_space_hash_is_stable_under_reordering_and_cosmetic_changes(write_space: Callable[..., Path]) -> None:
    original = space_hash(load_search_space(write_space(PARAMETERS, name="a.yaml")))
    reordered = {name: dict(reversed(list(PARAMETERS[name].items()))) for name in reversed(list(PARAMETERS))}
    reordered["ratio"]["keys"] = ["dog", "human", "rat"]
    reordered["alpha"] = {**reordered["alpha"], "low": 0, "high": 1, "log": False, "description": "doc only"}
    assert space_hash(load_search_space(write_space(reordered, name="b.yaml"))) == original
    split_in_two = load_search_spaces(
        [
            write_space({name: PARAMETERS[name] for name in ("depth", "alpha")}, name="c.yaml"),
            write_space(
                {name: PARAMETERS[name] for name in ("max_epochs", "ratio", "activation")}, name="d.yaml"
            ),
        ]
    )
    assert space_hash(split_in_two) == original
    assert len(original) == 12 and int(original, 16) >= 0


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("alpha", {"high": 0.9}),
        ("alpha", {"low": 0.1, "log": True}),
        ("alpha", {"step": 0.25}),
        ("depth", {"low": 1}),
        ("activation", {"choices": ["tanh", "relu"]}),
        ("activation", {"path": "model.aggregation", "choices": ["mean", "sum"]}),
        ("ratio", {"keys": ["human", "rat"]}),
        ("depth", {"when": {"param": "activation", "equals": "relu"}}),
    ],
)
def test_space_hash_changes_with_the_definition(
    write_space: Callable[..., Path], name: str, change: dict[str, Any]
) -> None:
    original = space_hash(load_search_space(write_space(PARAMETERS, name="a.yaml")))
    changed = {**PARAMETERS, name: {**PARAMETERS[name], **change}}
    assert space_hash(load_search_space(write_space(changed, name="b.yaml"))) != original


def test_space_hash_changes_when_a_parameter_is_renamed(write_space: Callable[..., Path]) -> None:
    renamed = {("alpha_2" if name == "alpha" else name): value for name, value in PARAMETERS.items()}
    assert space_hash(load_search_space(write_space(renamed, name="b.yaml"))) != space_hash(
        load_search_space(write_space(PARAMETERS, name="a.yaml"))
    )


def test_ineffective_parameters_name_switched_off_components(
    write_space: Callable[..., Path], base: TrainingConfig
) -> None:
    path = write_space(PARAMETERS)
    space = load_search_space(path)
    messages = ineffective_parameters(base, space)
    assert len(messages) == 2
    assert any(
        m.startswith(f"{path}: parameters.alpha:") and "sampling.task_oversampling.enabled is false" in m
        for m in messages
    )
    assert any("parameters.ratio:" in m and "sampling.batches.condition_balanced" in m for m in messages)
    enabled = base.model_copy(deep=True)
    enabled.sampling.task_oversampling.enabled = True
    enabled.sampling.batches.condition_balanced = True
    assert ineffective_parameters(enabled, space) == []
    switch = {"path": "sampling.task_oversampling.enabled", "type": "categorical", "choices": [True, False]}
    searched = load_search_space(write_space({**PARAMETERS, "oversample": switch}, name="switch.yaml"))
    assert not any("parameters.alpha:" in m for m in ineffective_parameters(base, searched))
