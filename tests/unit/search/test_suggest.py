"""suggest() respects bounds, log, step, when: and simplex normalisation; values replay from params."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admet_hpo.config.search_space import (
    FloatParameter,
    IntParameter,
    SearchSpace,
    SimplexParameter,
    load_search_space,
)
from admet_hpo.errors import ConfigError
from admet_hpo.search.space import (
    SIMPLEX_RAW_HIGH,
    SIMPLEX_RAW_LOW,
    simplex_share_attrs,
    simplex_shares,
    space_hash,
    suggest,
    values_from_params,
)
from admet_hpo.tracking.keys import trial_parameters

SOURCE = Path("space.yaml")


def _space(**parameters: object) -> SearchSpace:
    return SearchSpace(parameters=dict(parameters), sources=dict.fromkeys(parameters, SOURCE))


def _trials(space: SearchSpace, n: int, seed: int) -> list[tuple[dict, optuna.trial.FrozenTrial]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    results = []
    for _ in range(n):
        trial = study.ask()
        values = suggest(trial, space)
        study.tell(trial, 0.0)
        results.append((values, study.trials[-1]))
    return results


@settings(max_examples=40, deadline=None)
@given(
    low=st.floats(min_value=1e-4, max_value=10.0),
    width=st.floats(min_value=1e-3, max_value=100.0),
    log=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_float_values_stay_in_bounds(low: float, width: float, log: bool, seed: int) -> None:
    parameter = FloatParameter(
        type="float", path="sampling.task_oversampling.alpha", low=low, high=low + width, log=log
    )
    space = _space(alpha=parameter)
    for values, frozen in _trials(space, 5, seed):
        assert low <= values["alpha"] <= low + width
        assert frozen.distributions["alpha"].log is log


@settings(max_examples=40, deadline=None)
@given(low=st.integers(-50, 50), steps=st.integers(1, 20), step=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_int_values_stay_on_the_step_grid(low: int, steps: int, step: int, seed: int) -> None:
    parameter = IntParameter(type="int", path="sampling.seed", low=low, high=low + steps * step, step=step)
    for values, _ in _trials(_space(seed=parameter), 5, seed):
        assert low <= values["seed"] <= low + steps * step
        assert (values["seed"] - low) % step == 0


def test_float_step_grid_and_log_scale_distributions() -> None:
    stepped = FloatParameter(type="float", path="sampling.batches.leaky", low=0.0, high=0.5, step=0.05)
    logged = FloatParameter(type="float", path="optim.max_lr", low=1e-4, high=1e-2, log=True)
    results = _trials(_space(leaky=stepped, max_lr=logged), 60, seed=3)
    for values, _ in results:
        assert math.isclose(values["leaky"] / 0.05, round(values["leaky"] / 0.05), abs_tol=1e-9)
    learning_rates = [values["max_lr"] for values, _ in results]
    # log-uniform on [1e-4, 1e-2]: about half the draws fall below the geometric midpoint 1e-3
    below = sum(rate < 1e-3 for rate in learning_rates)
    assert 15 <= below <= 45
    assert results[0][1].distributions["leaky"].step == 0.05


@settings(max_examples=30, deadline=None)
@given(
    keys=st.lists(st.text("abcdefgh", min_size=1, max_size=5), min_size=2, max_size=6, unique=True),
    seed=st.integers(0, 2**16),
)
def test_simplex_shares_are_positive_and_sum_to_one(keys: list[str], seed: int) -> None:
    parameter = SimplexParameter(type="simplex", path="sampling.batches.condition_ratio", keys=keys)
    for values, frozen in _trials(_space(ratio=parameter), 3, seed):
        shares = values["ratio"]
        assert list(shares) == keys
        assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-12)
        assert all(share > 0 for share in shares.values())
        assert set(frozen.params) == {f"ratio.{key}.raw" for key in keys}
        for key in keys:
            distribution = frozen.distributions[f"ratio.{key}.raw"]
            assert (distribution.low, distribution.high) == (SIMPLEX_RAW_LOW, SIMPLEX_RAW_HIGH)


def test_simplex_shares_follow_the_exponential_spacings_formula() -> None:
    raw = {"a": 0.5, "b": 0.25, "c": SIMPLEX_RAW_HIGH}
    shares = simplex_shares(raw)
    total = math.log(2) + math.log(4) - math.log(SIMPLEX_RAW_HIGH)
    assert shares["a"] == pytest.approx(math.log(2) / total)
    assert shares["b"] == pytest.approx(math.log(4) / total)
    assert shares["c"] > 0


def test_uniform_raw_draws_give_dirichlet_one_shares() -> None:
    rng = random.Random(11)
    first = [
        simplex_shares({key: rng.uniform(SIMPLEX_RAW_LOW, SIMPLEX_RAW_HIGH) for key in "abc"})["a"]
        for _ in range(4000)
    ]
    # Dirichlet(1, 1, 1): each share has mean 1/3 and P(share < 1/3) = 1 - (2/3)^2 = 5/9
    assert sum(first) / len(first) == pytest.approx(1 / 3, abs=0.015)
    assert sum(share < 1 / 3 for share in first) / len(first) == pytest.approx(5 / 9, abs=0.025)


def test_when_conditions_gate_parameters(write_space: Callable[..., Path]) -> None:
    space = load_search_space(
        write_space(
            {
                # declared before the switch it depends on: suggest still evaluates the switch first
                "alpha": {
                    "path": "sampling.task_oversampling.alpha",
                    "type": "float",
                    "low": 0.0,
                    "high": 1.0,
                    "when": {"param": "oversample", "equals": True},
                },
                "oversample": {
                    "path": "sampling.task_oversampling.enabled",
                    "type": "categorical",
                    "choices": [True, False],
                },
                "layers": {"path": "model.ffn_num_layers", "type": "int", "low": 1, "high": 3},
                "ffn_hidden": {
                    "path": "model.ffn_hidden_dim",
                    "type": "int",
                    "low": 32,
                    "high": 64,
                    "when": {"param": "layers", "in": [2, 3]},
                },
                "chained": {
                    "path": "model.dropout",
                    "type": "float",
                    "low": 0.0,
                    "high": 0.5,
                    "when": {"param": "ffn_hidden", "in": [32, 33, 34]},
                },
            }
        )
    )
    assert list(space.parameters)[:2] == ["oversample", "alpha"]
    seen_on = seen_off = False
    for values, frozen in _trials(space, 80, seed=5):
        assert ("alpha" in values) is values["oversample"]
        assert ("ffn_hidden" in values) is (values["layers"] in (2, 3))
        assert ("chained" in values) is (values.get("ffn_hidden") in (32, 33, 34))
        assert set(frozen.params) == set(values)
        seen_on |= values["oversample"]
        seen_off |= not values["oversample"]
    assert seen_on and seen_off


def test_when_equals_keeps_booleans_apart_from_numbers(write_space: Callable[..., Path]) -> None:
    switch = {"path": "sampling.seed", "type": "categorical", "choices": [0, 1]}
    gated = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}
    with pytest.raises(
        ConfigError, match=r"parameters\.alpha\.when: never holds: 'switch' cannot take \[True\]"
    ):
        load_search_space(
            write_space({"switch": switch, "alpha": {**gated, "when": {"param": "switch", "equals": True}}})
        )
    space = load_search_space(
        write_space({"switch": switch, "alpha": {**gated, "when": {"param": "switch", "equals": 1}}})
    )
    assert "alpha" not in suggest(optuna.trial.FixedTrial({"switch": 0}), space)
    assert suggest(optuna.trial.FixedTrial({"switch": 1, "alpha": 0.25}), space) == {
        "switch": 1,
        "alpha": 0.25,
    }


def test_fixed_trial_and_values_from_params_replay_a_trial(write_space: Callable[..., Path]) -> None:
    space = load_search_space(
        write_space(
            {
                "alpha": {
                    "path": "sampling.task_oversampling.alpha",
                    "type": "float",
                    "low": 0.0,
                    "high": 1.0,
                },
                "ratio": {
                    "path": "sampling.batches.condition_ratio",
                    "type": "simplex",
                    "keys": ["human", "rat"],
                },
                "size": {"path": "trainer.batch_size", "type": "categorical", "choices": [32, 64]},
            }
        )
    )
    for values, frozen in _trials(space, 5, seed=2):
        assert values_from_params(space, frozen.params) == values
    with pytest.raises(ConfigError, match="stored trial parameters do not fit this search space"):
        values_from_params(space, {"alpha": 0.5})


def test_applied_shares_replace_the_raw_draws_in_what_is_shown() -> None:
    ratio = SimplexParameter(type="simplex", path="sampling.batches.condition_ratio", keys=["human", "rat"])
    alpha = FloatParameter(type="float", path="sampling.task_oversampling.alpha", low=0.0, high=1.0)
    space = _space(alpha=alpha, ratio=ratio)
    (values, frozen), *_ = _trials(space, 1, seed=3)
    attrs = simplex_share_attrs(space, values)
    assert attrs == {"ratio.human": values["ratio"]["human"], "ratio.rat": values["ratio"]["rat"]}
    assert sum(attrs.values()) == pytest.approx(1.0)
    shown = trial_parameters(frozen.params, {**attrs, "worker": "h:1"})
    assert shown == {"alpha": frozen.params["alpha"], **attrs}
    assert list(shown) == [name.removesuffix(".raw") for name in frozen.params]  # in place, same order
    # a raw draw whose share was not recorded (a trial failed before it) stays under its raw name
    assert trial_parameters(frozen.params, {}) == frozen.params


def test_the_simplex_storage_encoding_is_part_of_the_space_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    from admet_hpo.search import space as space_module

    ratio = SimplexParameter(type="simplex", path="sampling.batches.condition_ratio", keys=["a", "b"])
    alpha = FloatParameter(type="float", path="sampling.task_oversampling.alpha", low=0.0, high=1.0)
    with_simplex, without = _space(ratio=ratio), _space(alpha=alpha)
    before = space_hash(with_simplex), space_hash(without)
    monkeypatch.setattr(space_module, "SIMPLEX_ENCODING", "another encoding")
    assert space_hash(with_simplex) != before[0]
    assert space_hash(without) == before[1]
