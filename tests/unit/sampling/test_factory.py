"""build_batch_sampler: the sampling config block -> a batch sampler, with errors naming config keys."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from admet_hpo.config import CurriculumConfig, SamplingConfig
from admet_hpo.errors import ConfigError, DataValidationError
from admet_hpo.sampling import (
    CurriculumState,
    FlexibleBatchSampler,
    JointSampler,
    JointWeighting,
    build_batch_sampler,
    build_curriculum,
)

from .synthetic import QUALITIES, Split


def config(**blocks: object) -> SamplingConfig:
    return SamplingConfig.model_validate(blocks)


def build(split: Split, sampling: SamplingConfig, **kwargs: object) -> FlexibleBatchSampler:
    arrays = {"quality": split.quality, "experiment": split.experiment, "condition": split.condition}
    return build_batch_sampler(
        sampling, split.targets, batch_size=kwargs.pop("batch_size", 16), **arrays, **kwargs
    )


def test_everything_off_is_a_plain_shuffle_of_the_labelled_rows(split: Split) -> None:
    sampler = build(split, SamplingConfig(seed=7))
    rows = sampler.epoch_batches(0).ravel()
    assert sampler.curriculum is None and not sampler.structured
    assert len(set(rows.tolist())) == rows.size and split.labelled[rows].all()
    assert np.array_equal(rows, JointSampler(JointWeighting(split.targets), seed=7).indices(0)[: rows.size])


def test_configured_parts_reach_the_sampler(split: Split) -> None:
    sampling = config(
        task_oversampling={"enabled": True, "alpha": 0.3},
        curriculum={"enabled": True, "patience": 4, "phase_weights": {"polish": [1, 1, 1]}},
        batches={
            "experiment_aware": True,
            "leaky": 0.25,
            "condition_balanced": True,
            "condition_ratio": {"human": 1, "rat": 3},
        },
        seed=5,
        increment_seed_per_epoch=False,
    )
    sampler = build(split, sampling, batch_size=20, num_replicas=2, rank=1)
    assert sampler.weighting.task_alpha == 0.3
    assert sampler.curriculum.patience == 4
    assert sampler.curriculum.phase_probabilities("polish")["low"] == pytest.approx(1 / 3)
    assert sampler.leak_size == 5 and sampler.structured
    assert (sampler.num_replicas, sampler.rank, sampler.seed) == (2, 1, 5)
    assert np.array_equal(sampler.epoch_batches(0), sampler.epoch_batches(3))
    batch = sampler.epoch_batches(0)[0]
    assert (split.condition[batch[:15]] == "rat").sum() == 11  # 15 * 3/4 = 11.25 -> 11


def test_a_given_curriculum_is_followed(split: Split) -> None:
    curriculum = CurriculumState(QUALITIES, patience=2)
    sampler = build(split, config(curriculum={"enabled": True}), curriculum=curriculum)
    assert sampler.curriculum is curriculum
    with pytest.raises(ValueError, match=r"sampling\.curriculum\.enabled is false"):
        build(split, SamplingConfig(), curriculum=curriculum)


@pytest.mark.parametrize(
    ("blocks", "missing", "message"),
    [
        (
            {"curriculum": {"enabled": True, "quality_col": "grade"}},
            "quality",
            "sampling.curriculum is on but the training rows have no 'grade' column",
        ),
        (
            {"batches": {"experiment_aware": True}},
            "experiment",
            "sampling.batches.experiment_aware is on but .* no 'experiment' column",
        ),
        (
            {"batches": {"condition_balanced": True}},
            "condition",
            "sampling.batches.condition_balanced is on .* no 'condition' column",
        ),
    ],
)
def test_a_missing_required_column_is_a_data_error(
    split: Split, blocks: dict, missing: str, message: str
) -> None:
    arrays = {"quality": split.quality, "experiment": split.experiment, "condition": split.condition}
    arrays[missing] = None
    with pytest.raises(DataValidationError, match=message):
        build_batch_sampler(config(**blocks), split.targets, batch_size=16, **arrays)


def test_experiment_weights_not_covering_the_data_are_a_config_error(split: Split) -> None:
    weights = {"A": 1, "B": 1, "C": 1}
    with pytest.raises(
        ConfigError, match=r"sampling\.batches: experiment_weights has no value for experiment\(s\) \['D'\]"
    ):
        build(split, config(batches={"experiment_aware": True, "experiment_weights": weights}))


def test_curriculum_settings_the_state_rejects_are_a_config_error(split: Split) -> None:
    infinite = {"enabled": True, "phase_weights": {"warmup": [float("inf"), 1, 1]}}
    with pytest.raises(
        ValidationError, match=r"curriculum\.phase_weights\.warmup\.0\s+Input should be a finite"
    ):
        config(curriculum=infinite)  # a config file cannot hold it; a config built in code still can:
    sampling = SamplingConfig(curriculum=CurriculumConfig.model_construct(**infinite))
    with pytest.raises(
        ConfigError, match=r"sampling\.curriculum: phase_weights: phase 'warmup' weights must be finite"
    ):
        build_curriculum(sampling.curriculum)


def test_condition_balanced_without_experiment_aware_builds_and_balances_the_whole_pool(split: Split) -> None:
    """Issue 9 / 12: this configuration crashed building the sampler ("zip() argument 2 is shorter")."""
    sampler = build(split, config(batches={"condition_balanced": True}), batch_size=20)
    assert sampler.structured and not sampler.experiment_aware
    for batch in sampler.epoch_batches(0):
        assert (split.condition[batch] == "human").sum() == 10
    assert set(sampler.statistics().experiment_shares) == {"A", "B", "C", "D"}
