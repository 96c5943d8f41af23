"""Samplers built from the ``sampling:`` config block and a training split's arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from admet_hpo.config.sampling import CurriculumConfig, SamplingConfig
from admet_hpo.errors import ConfigError, DataValidationError
from admet_hpo.sampling.batch_sampler import FlexibleBatchSampler
from admet_hpo.sampling.curriculum import CurriculumState
from admet_hpo.sampling.weighting import JointWeighting


def build_curriculum(config: CurriculumConfig) -> CurriculumState | None:
    """The curriculum described by ``config`` (None when it is disabled)."""
    if not config.enabled:
        return None
    try:
        return CurriculumState(
            config.qualities,
            patience=config.patience,
            min_delta=config.min_delta,
            phase_weights=config.phase_weights,
            count_normalize=config.count_normalize,
        )
    except ValueError as exc:
        raise ConfigError(f"sampling.curriculum: {exc}") from None


def _require(values: np.ndarray | None, needed: bool, column: str, option: str) -> None:
    if needed and values is None:
        raise DataValidationError(f"{option} is on but the training rows have no {column!r} column")


def build_batch_sampler(
    config: SamplingConfig,
    targets: np.ndarray,
    *,
    batch_size: int,
    quality: np.ndarray | None = None,
    experiment: np.ndarray | None = None,
    condition: np.ndarray | None = None,
    task_names: Sequence[str] | None = None,
    num_replicas: int = 1,
    rank: int = 0,
    curriculum: CurriculumState | None = None,
) -> FlexibleBatchSampler:
    """The batch sampler for a training split, as configured by ``config`` (SPEC section 2).

    Args:
        config: the ``sampling:`` block.
        targets: ``(N, T)`` training targets (NaN = missing), in the order of the training dataset.
        batch_size: rows per batch (``trainer.batch_size``).
        quality, experiment, condition: ``(N,)`` label columns of the training rows; each is required
            when the part of ``config`` that uses it is on, and otherwise only feeds statistics.
        task_names: target column names (messages and statistics).
        num_replicas, rank: distributed world size and this process's rank.
        curriculum: an existing curriculum to follow (default: a new one from ``config.curriculum``).

    Returns a :class:`FlexibleBatchSampler`; its ``curriculum`` attribute is the state the training loop
    feeds validation losses into. With every part of ``config`` off it is a plain shuffled batch
    sampler over the labelled rows (one permutation per epoch, ``drop_last``). Config mistakes raise
    :class:`ConfigError` naming the key; data mistakes raise :class:`DataValidationError`.
    """
    batches = config.batches
    if curriculum is None:
        curriculum = build_curriculum(config.curriculum)
    elif not config.curriculum.enabled:
        raise ValueError("a curriculum was passed but sampling.curriculum.enabled is false")
    _require(quality, curriculum is not None, config.curriculum.quality_col, "sampling.curriculum")
    _require(
        experiment, batches.experiment_aware, batches.experiment_col, "sampling.batches.experiment_aware"
    )
    _require(
        condition, batches.condition_balanced, batches.condition_col, "sampling.batches.condition_balanced"
    )
    oversampling = config.task_oversampling
    weighting = JointWeighting(
        targets,
        task_alpha=oversampling.alpha if oversampling.enabled else None,
        quality=quality,
        curriculum=curriculum,
        task_names=task_names,
    )
    try:
        return FlexibleBatchSampler(
            weighting,
            batch_size,
            experiment=experiment,
            condition=condition,
            experiment_aware=batches.experiment_aware,
            leaky=batches.leaky,
            experiment_weights=batches.experiment_weights,
            condition_balanced=batches.condition_balanced,
            condition_ratio=batches.condition_ratio,
            num_replicas=num_replicas,
            rank=rank,
            seed=config.seed,
            increment_seed_per_epoch=config.increment_seed_per_epoch,
        )
    except ValueError as exc:
        raise ConfigError(f"sampling.batches: {exc}") from None
