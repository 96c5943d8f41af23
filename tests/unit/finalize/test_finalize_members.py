"""Which trials become members (best first, by direction) and the members' configs and seeds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from admet_hpo.config.study import Study, load_study
from admet_hpo.errors import ConfigError
from admet_hpo.finalize.members import member_name, member_specs, top_trials

DEPTH = IntDistribution(1, 4)


def study_with(values: list[tuple[float | None, TrialState]], direction: str = "minimize") -> optuna.Study:
    study = optuna.create_study(direction=direction, study_name="s-abc")
    for depth, (value, state) in enumerate(values, start=1):
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params={"depth": min(depth, 4)},
                distributions={"depth": DEPTH},
            )
        )
    return study


def test_top_trials_are_the_best_completed_ones_in_the_study_direction() -> None:
    trials = [
        (0.5, TrialState.COMPLETE),
        (None, TrialState.PRUNED),
        (0.2, TrialState.COMPLETE),
        (0.2, TrialState.COMPLETE),
        (None, TrialState.FAIL),
        (0.9, TrialState.COMPLETE),
    ]
    assert [t.number for t in top_trials(study_with(trials), 3)] == [2, 3, 0]
    assert [t.number for t in top_trials(study_with(trials, "maximize"), 2)] == [5, 0]
    assert len(top_trials(study_with(trials), 10)) == 4


def test_a_study_without_a_completed_trial_is_refused() -> None:
    with pytest.raises(ConfigError, match="no completed trial yet"):
        top_trials(study_with([(None, TrialState.PRUNED)]), 1)


@pytest.fixture
def make_study(write_yaml: Callable[..., Path]) -> Callable[..., Study]:
    def make(parameters: dict[str, Any]) -> Study:
        write_yaml("space.yaml", {"parameters": parameters})
        content = {
            "name": "s",
            "search_spaces": ["space.yaml"],
            "training": {"data": {"dataset": "demo"}, "trainer": {"seed": 7}},
            "n_trials": 1,
        }
        return load_study(write_yaml("study.yaml", content))

    return make


def test_members_are_the_trial_configs_with_consecutive_seeds(make_study, tmp_path: Path) -> None:
    study = make_study({"depth": {"path": "model.depth", "type": "int", "low": 1, "high": 4}})
    trials = top_trials(study_with([(0.3, TrialState.COMPLETE), (0.1, TrialState.COMPLETE)]), 2)
    specs = member_specs(study, trials, 2, tmp_path / "members")
    assert [(s.trial.number, s.seed, s.config.model.depth) for s in specs] == [
        (1, 7, 2),
        (1, 8, 2),
        (0, 7, 1),
        (0, 8, 1),
    ]
    assert [s.name for s in specs][:2] == ["trial-0001-seed-7", "trial-0001-seed-8"]
    assert all(s.config.output_dir == tmp_path / "members" / s.name for s in specs)
    assert all(s.config.trainer.seed == s.seed and not s.config.trainer.progress_bar for s in specs)
    assert member_name(12, 0) == "trial-0012-seed-0"


def test_finalize_needs_at_least_one_trial_and_one_seed(make_study) -> None:
    from admet_hpo.finalize.build import finalize_study

    study = make_study({"depth": {"path": "model.depth", "type": "int", "low": 1, "high": 4}})
    for top_k, seeds in ((0, 1), (1, 0)):
        with pytest.raises(ConfigError, match="--top-k and --seeds must be at least 1"):
            finalize_study(study, study_with([(0.1, TrialState.COMPLETE)]), top_k=top_k, seeds=seeds)
