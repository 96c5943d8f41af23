"""build_sampler / build_pruner give the configured Optuna classes with their arguments."""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from admet_hpo.config.study import Study, load_study
from admet_hpo.errors import ConfigError
from admet_hpo.search.algorithms import build_pruner, build_sampler, multi_fidelity_arguments


@pytest.fixture
def make_study(write_yaml: Callable[..., Path]) -> Callable[..., Study]:
    write_yaml(
        "space.yaml", {"parameters": {"depth": {"path": "model.depth", "type": "int", "low": 1, "high": 4}}}
    )

    def make(**extra: Any) -> Study:
        content = {
            "name": "s",
            "search_spaces": ["space.yaml"],
            "data": {"dataset": "demo"},
            "n_trials": 1,
            **extra,
        }
        return load_study(write_yaml("study.yaml", content))

    return make


@pytest.fixture(autouse=True)
def _no_experimental_noise() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _draws(sampler: optuna.samplers.BaseSampler) -> list[float]:
    study = optuna.create_study(sampler=sampler)
    return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(5)]


def test_tpe_sampler_with_args_and_seed(make_study: Callable[..., Study]) -> None:
    study = make_study(
        sampler={"type": "tpe", "seed": 7, "args": {"n_startup_trials": 4, "n_ei_candidates": 12}}
    )
    sampler = build_sampler(study)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert (sampler._n_startup_trials, sampler._n_ei_candidates) == (4, 12)
    assert _draws(build_sampler(study)) == _draws(build_sampler(study))


def test_workers_get_distinct_seeds(make_study: Callable[..., Study]) -> None:
    study = make_study(sampler={"type": "random", "seed": 3})
    assert isinstance(build_sampler(study), optuna.samplers.RandomSampler)
    assert _draws(build_sampler(study, worker_index=1)) == _draws(optuna.samplers.RandomSampler(seed=4))
    assert _draws(build_sampler(study, worker_index=0)) != _draws(build_sampler(study, worker_index=1))


def test_gp_sampler(make_study: Callable[..., Study]) -> None:
    pytest.importorskip("scipy")
    sampler = build_sampler(make_study(sampler={"type": "gp", "seed": 0, "args": {"n_startup_trials": 3}}))
    assert isinstance(sampler, optuna.samplers.GPSampler)


@pytest.mark.skipif(importlib.util.find_spec("cmaes") is None, reason="cmaes not installed")
def test_cmaes_sampler(make_study: Callable[..., Study]) -> None:
    sampler = build_sampler(make_study(sampler={"type": "cmaes", "seed": 0, "args": {"n_startup_trials": 2}}))
    assert isinstance(sampler, optuna.samplers.CmaEsSampler)


@pytest.mark.skipif(importlib.util.find_spec("cmaes") is not None, reason="cmaes is installed")
def test_cmaes_without_its_package_is_a_clear_error(make_study: Callable[..., Study]) -> None:
    study = make_study(sampler={"type": "cmaes"})
    with pytest.raises(
        ConfigError, match=r"study\.yaml: sampler\.type: cmaes needs the Python package\(s\) cmaes"
    ):
        build_sampler(study)


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [
        (
            {"type": "tpe", "args": {"n_startup": 3}},
            r"sampler\.args\.n_startup: not an argument of optuna TPESampler",
        ),
        ({"type": "random", "args": {"seed": 3}}, r"sampler\.args\.seed: set it as sampler\.seed"),
        (
            {"type": "tpe", "args": {"group": True, "multivariate": False}},
            r"sampler\.args: optuna TPESampler rejected",
        ),
        (  # a wrong type fails here, not when the first trial past startup asks the sampler
            {"type": "tpe", "args": {"n_startup_trials": "banana"}},
            r"sampler\.args\.n_startup_trials: Input should be a valid integer.*"
            r"\(optuna TPESampler expects int; got 'banana'\)",
        ),
        (
            {"type": "tpe", "args": {"n_startup_trials": True}},
            r"sampler\.args\.n_startup_trials: expected a number, not a boolean",
        ),
        (
            {"type": "tpe", "args": {"gamma": "lambda n: n"}},
            r"sampler\.args\.gamma: Input should be callable",
        ),
        (
            {"type": "cmaes", "args": {"independent_sampler": "random"}},
            r"sampler\.args\.independent_sampler: Input should be an instance of BaseSampler",
        ),
    ],
)
def test_sampler_argument_errors(make_study: Callable[..., Study], sampler: dict, expected: str) -> None:
    study = make_study(sampler=sampler)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(study.source))}: {expected}"):
        build_sampler(study)


def test_sampler_argument_values_are_passed_as_validated(make_study: Callable[..., Study]) -> None:
    sampler = build_sampler(make_study(sampler={"type": "tpe", "args": {"n_startup_trials": "7"}}))
    assert sampler._n_startup_trials == 7


def test_median_pruner_args(make_study: Callable[..., Study]) -> None:
    pruner = build_pruner(
        make_study(pruner={"type": "median", "args": {"n_startup_trials": 2, "n_warmup_steps": 3}})
    )
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert (pruner._n_startup_trials, pruner._n_warmup_steps, pruner._percentile) == (2, 3, 50.0)


def test_hyperband_and_successive_halving_args(make_study: Callable[..., Study]) -> None:
    hyperband = build_pruner(
        make_study(pruner={"type": "hyperband", "args": {"min_resource": 2, "max_resource": 8}})
    )
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource) == (2, 8)
    halving = build_pruner(make_study(pruner={"type": "successive_halving", "args": {"reduction_factor": 3}}))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
    assert halving._reduction_factor == 3


def test_default_pruner_is_hyperband_with_resources_from_the_epochs(make_study: Callable[..., Study]) -> None:
    study = make_study(max_epochs=40, training={"data": {"dataset": "demo"}, "optim": {"warmup_epochs": 2}})
    pruner = build_pruner(study)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (2, 40, 3)


def test_study_args_override_the_derived_resources(make_study: Callable[..., Study]) -> None:
    pruner = build_pruner(
        make_study(max_epochs=30, pruner={"type": "hyperband", "args": {"reduction_factor": 2}})
    )
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (2, 30, 2)
    patient = build_pruner(
        make_study(
            max_epochs=30,
            pruner={"type": "patient", "patience": 3, "wrapped": {"type": "successive_halving"}},
        )
    )
    assert patient._wrapped_pruner._min_resource == 2 and patient._wrapped_pruner._reduction_factor == 3


@given(st.integers(1, 500), st.integers(0, 20))
def test_derived_first_rung_is_after_warmup_and_inside_the_epochs(max_epochs: int, warmup: int) -> None:
    derived = multi_fidelity_arguments("hyperband", max_epochs, warmup)
    assert derived["max_resource"] == max_epochs and derived["reduction_factor"] == 3
    first = derived["min_resource"]
    assert first >= 1
    assert first <= max(max_epochs - 1, 1)
    assert first >= min(warmup, max_epochs - 1)
    assert max_epochs <= first * 3**3 or first == min(warmup, max_epochs - 1)  # at most 3 rungs below the top
    assert multi_fidelity_arguments("median", max_epochs, warmup) == {}
    assert "max_resource" not in multi_fidelity_arguments("successive_halving", max_epochs, warmup)


def test_patient_pruner_wraps_its_pruner(make_study: Callable[..., Study]) -> None:
    pruner = build_pruner(
        make_study(
            pruner={
                "type": "patient",
                "patience": 4,
                "args": {"min_delta": 0.01},
                "wrapped": {"type": "median", "args": {"n_warmup_steps": 5}},
            }
        )
    )
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert (pruner._patience, pruner._min_delta) == (4, 0.01)
    assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)
    assert pruner._wrapped_pruner._n_warmup_steps == 5
    alone = build_pruner(make_study(pruner={"type": "patient", "patience": 2}))
    assert alone._wrapped_pruner is None


def test_none_pruner(make_study: Callable[..., Study]) -> None:
    assert isinstance(build_pruner(make_study(pruner={"type": "none"})), optuna.pruners.NopPruner)


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        (
            {"type": "median", "args": {"warmup": 3}},
            r"pruner\.args\.warmup: not an argument of optuna MedianPruner",
        ),
        ({"type": "median", "args": {"n_startup_trials": -1}}, r"pruner\.args: optuna MedianPruner rejected"),
        (
            {"type": "median", "args": {"n_warmup_steps": "banana"}},
            r"pruner\.args\.n_warmup_steps: Input should be a valid integer.* expects int; got 'banana'",
        ),
        (
            {"type": "hyperband", "args": {"max_resource": 2.5}},
            r"pruner\.args\.max_resource: .*expects str \| int; got 2\.5",
        ),
        (
            {"type": "patient", "patience": 1, "args": {"patience": 2}},
            r"pruner\.args\.patience: set it as pruner\.patience",
        ),
        (
            {"type": "patient", "patience": 1, "args": {"wrapped_pruner": None}},
            r"pruner\.args\.wrapped_pruner: set it as pruner\.wrapped",
        ),
        (
            {"type": "patient", "patience": 1, "wrapped": {"type": "hyperband", "args": {"eta": 3}}},
            r"pruner\.wrapped\.args\.eta: not an argument of optuna HyperbandPruner",
        ),
    ],
)
def test_pruner_argument_errors(make_study: Callable[..., Study], pruner: dict, expected: str) -> None:
    study = make_study(pruner=pruner)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(study.source))}: {expected}"):
        build_pruner(study)


def _pruned_steps(pruner: optuna.pruners.BasePruner, asks: Callable[[int], bool], curves: Any) -> list:
    """Run one trial per curve (reporting every step, asking the pruner where ``asks``); the step each
    trial was pruned at (None when it ran to the end)."""
    study = optuna.create_study(study_name="same-brackets", pruner=pruner)
    pruned = []
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve):
            trial.report(float(value), step)
            if asks(step) and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                pruned.append(step)
                break
        else:
            study.tell(trial, float(curve[-1]))
            pruned.append(None)
    return pruned


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "hyperband"},
        {"type": "hyperband", "args": {"min_resource": 2, "reduction_factor": 2}},
        {"type": "successive_halving"},
        {"type": "successive_halving", "args": {"min_resource": 1, "min_early_stopping_rate": 1}},
        {"type": "median", "args": {"n_startup_trials": 2, "n_warmup_steps": 3, "interval_steps": 4}},
        {"type": "patient", "patience": 2, "wrapped": {"type": "hyperband"}},
    ],
)
def test_asking_only_at_decision_steps_prunes_exactly_like_asking_every_step(
    make_study: Callable[..., Study], pruner: dict
) -> None:
    import numpy as np

    from admet_hpo.search.algorithms import pruning_steps

    study = make_study(max_epochs=30, pruner=pruner)
    decides = pruning_steps(study)
    asked = [step for step in range(30) if decides(step)]
    assert len(asked) < 30 or pruner["type"] == "patient"
    for seed in range(8):
        rng = np.random.default_rng(seed)
        # noisy learning curves that fall at different speeds towards different floors
        curves = [
            rng.uniform(0.3, 1.0)
            + rng.uniform(0.5, 2.0) * np.exp(-np.arange(30) / rng.uniform(2, 15))
            + rng.normal(0, 0.02, 30)
            for _ in range(15)
        ]
        every = _pruned_steps(build_pruner(study), lambda step: True, curves)
        sparse = _pruned_steps(build_pruner(study), decides, curves)
        assert sparse == every
        assert any(step is not None for step in every)  # the pruner did prune: the test can fail


def test_pruner_none_never_asks(make_study: Callable[..., Study]) -> None:
    from admet_hpo.search.algorithms import pruning_steps

    decides = pruning_steps(make_study(pruner={"type": "none"}))
    assert not any(decides(step) for step in range(100))
