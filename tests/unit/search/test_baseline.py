"""The baseline trial: base config values as Optuna params, unrepresentable values, enqueued once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from admet_hpo.config.search_space import load_search_space
from admet_hpo.config.study import load_study
from admet_hpo.config.training import TrainingConfig
from admet_hpo.errors import ConfigError
from admet_hpo.search.baseline import baseline_params, baseline_warnings, enqueue_baseline, find_baseline
from admet_hpo.search.space import apply_parameters, values_from_params
from admet_hpo.storage.rdb import open_storage
from admet_hpo.tracking.keys import BASELINE_ATTR

PARAMETERS: dict[str, Any] = {
    "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0},
    "leaky": {"path": "sampling.batches.leaky", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "hidden": {"path": "model.message_hidden_dim", "type": "int", "low": 100, "high": 600, "step": 100},
    "batch_size": {"path": "trainer.batch_size", "type": "categorical", "choices": [32, 64, 128]},
    "batch_norm": {"path": "model.batch_norm", "type": "categorical", "choices": [True, False]},
    "ratio": {"path": "sampling.batches.condition_ratio", "type": "simplex", "keys": ["human", "rat"]},
    "agg": {"path": "model.aggregation", "type": "categorical", "choices": ["mean", "norm"]},
    "depth": {"path": "model.depth", "type": "int", "low": 1, "high": 2, "when": {"param": "agg", "equals": "mean"}},  # noqa: E501
}  # fmt: skip


ZERO_SHARE = {"human": 1.0, "rat": 0.0}
OTHER_KEYS = {"human": 1.0, "dog": 1.0}


def config(**sections: Any) -> TrainingConfig:
    return TrainingConfig.model_validate({"data": {"dataset": "demo"}, **sections})


def values_at_paths(config: TrainingConfig, space) -> dict[str, Any]:
    dumped = config.model_dump()
    out = {}
    for name, parameter in space.parameters.items():
        value: Any = dumped
        for part in parameter.path.split("."):
            value = value[part]
        out[name] = value
    return out


def test_baseline_params_give_back_the_base_config(write_space: Callable[..., Path]) -> None:
    space = load_search_space(write_space(PARAMETERS))
    base = config(sampling={"batches": {"condition_ratio": {"human": 3.0, "rat": 1.0}}})
    params, problems = baseline_params(base, space)
    assert problems == []
    assert "depth" not in params, "aggregation 'norm' leaves the conditional depth inactive"
    assert set(params) == {*PARAMETERS, "ratio.human.raw", "ratio.rat.raw"} - {"ratio", "depth"}
    assert params["hidden"] == 300 and params["batch_size"] == 64 and params["batch_norm"] is False
    rebuilt = apply_parameters(base, space, values_from_params(space, params))
    got, expected = values_at_paths(rebuilt, space), values_at_paths(base, space)
    assert got.pop("ratio") == pytest.approx({"human": 0.75, "rat": 0.25}, rel=1e-12)
    expected.pop("ratio")
    assert got == expected
    assert rebuilt.model_dump() == {**base.model_dump(), "sampling": rebuilt.sampling.model_dump()}


def test_a_null_simplex_is_equal_shares_and_an_active_condition_is_followed(
    write_space: Callable[..., Path],
) -> None:
    space = load_search_space(write_space(PARAMETERS))
    base = config(model={"aggregation": "mean", "depth": 2})
    params, problems = baseline_params(base, space)
    assert problems == [] and params["depth"] == 2
    values = values_from_params(space, params)
    assert values["ratio"] == pytest.approx({"human": 0.5, "rat": 0.5}, rel=1e-12)


@pytest.mark.parametrize(
    ("sections", "name", "why"),
    [
        ({"optim": {"max_lr": 0.5}}, "max_lr", r"max_lr = 0\.5 is not in the space \(outside \[0\.0001"),
        ({"model": {"message_hidden_dim": 256}}, "hidden", r"= 256 is not in the space \(not on the grid"),
        ({"sampling": {"batches": {"leaky": 0.07}}}, "leaky", r"not on the grid 0\.0, 0\.05"),
        ({"trainer": {"batch_size": 16}}, "batch_size", r"not one of the choices \[32, 64, 128\]"),
        ({"model": {"aggregation": "sum"}}, "agg", r"'sum' is not in the space \(not one of the choices"),
        ({"sampling": {"batches": {"condition_ratio": ZERO_SHARE}}}, "ratio", r"every share .* positive"),
        ({"sampling": {"batches": {"condition_ratio": OTHER_KEYS}}}, "ratio", r"keys \['dog', 'human'\] are"),
    ],
)  # fmt: skip
def test_base_values_outside_the_space_are_problems_naming_file_and_parameter(
    write_space: Callable[..., Path], sections: dict[str, Any], name: str, why: str
) -> None:
    path = write_space(PARAMETERS)
    _, problems = baseline_params(config(**sections), load_search_space(path))
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: parameters.{name}: the base config's ")
    assert re.search(why, problems[0]), problems[0]


def test_a_null_number_cannot_be_a_baseline_value(write_space: Callable[..., Path]) -> None:
    space = load_search_space(
        write_space({"p": {"path": "trainer.early_stopping_patience", "type": "int", "low": 2, "high": 9}})
    )
    _, problems = baseline_params(config(trainer={"early_stopping_patience": None}), space)
    assert "= None is not in the space (a int parameter cannot hold it)" in problems[0]


def write_study(write_yaml: Callable[..., Path], **extra: Any) -> Path:
    write_yaml("space.yaml", {"parameters": {"hidden": PARAMETERS["hidden"]}})
    return write_yaml(
        "study.yaml",
        {
            "name": "b",
            "search_spaces": ["space.yaml"],
            "data": {"dataset": "demo"},
            "n_trials": 2,
            **extra,
        },
    )


def test_unrepresentable_base_warns_unless_the_baseline_is_asked_for_explicitly(
    write_yaml: Callable[..., Path],
) -> None:
    training = {"data": {"dataset": "demo"}, "model": {"message_hidden_dim": 250}}
    implicit = load_study(write_study(write_yaml, training=training, data=None))
    [warning] = baseline_warnings(implicit)
    assert warning.startswith("no baseline trial: ") and "model.message_hidden_dim = 250" in warning
    assert warning.endswith("(include the base value in the space, or set baseline: false)")
    explicit = load_study(write_study(write_yaml, training=training, data=None, baseline=True))
    with pytest.raises(ConfigError, match=r"study\.yaml: baseline: the base training config is not a point"):
        baseline_warnings(explicit)
    off = load_study(write_study(write_yaml, training=training, data=None, baseline=False))
    assert baseline_warnings(off) == []


def test_enqueued_once_as_trial_zero_and_again_only_after_it_failed(
    write_yaml: Callable[..., Path], tmp_path: Path
) -> None:
    study = load_study(write_study(write_yaml))
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url)
    optuna_study = optuna.create_study(study_name="b-x", storage=storage)
    assert enqueue_baseline(optuna_study, study) == 0
    assert enqueue_baseline(optuna_study, study) is None, "a waiting baseline is kept"
    [trial] = optuna_study.get_trials()
    assert trial.state == TrialState.WAITING and trial.user_attrs == {BASELINE_ATTR: True}
    running = optuna_study.ask()
    assert running.number == 0 and running.suggest_int("hidden", 100, 600, step=100) == 300
    optuna_study.tell(running, state=TrialState.FAIL)
    assert enqueue_baseline(optuna_study, study) == 1, "a failed baseline is enqueued again"
    assert find_baseline(optuna_study.get_trials()).number == 1
    assert enqueue_baseline(optuna_study, study) is None


def test_no_baseline_when_the_study_turns_it_off(write_yaml: Callable[..., Path], tmp_path: Path) -> None:
    study = load_study(write_study(write_yaml, baseline=False))
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url)
    optuna_study = optuna.create_study(study_name="b-x", storage=storage)
    assert enqueue_baseline(optuna_study, study) is None
    assert optuna_study.get_trials() == []


def test_hpo_validate_reports_a_missing_baseline_as_a_warning(write_yaml: Callable[..., Path]) -> None:
    from admet_hpo.search.validation import validate_file

    training = {"data": {"dataset": "demo"}, "model": {"message_hidden_dim": 250}}
    report = validate_file(write_study(write_yaml, training=training, data=None))
    assert any("no baseline trial:" in warning for warning in report.warnings), report.warnings
    assert validate_file(write_study(write_yaml)).warnings == []
