"""The ``sampling:`` block of a training config: task oversampling, quality curriculum, batch composition.

SPEC section 2 gives the semantics each field controls. Every part switched off means a plain shuffle:
one random permutation of the labelled training rows per epoch.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from admet_hpo.config.base import StrictModel

PHASE_NAMES = ("warmup", "expand", "robust", "polish")


def phases_for(n_qualities: int) -> tuple[str, ...]:
    """Curriculum phases, in order, for ``n_qualities`` qualities (SPEC 2.2): 1 -> warmup, polish;
    2 -> warmup, expand, polish; 3 or more -> warmup, expand, robust, polish."""
    if n_qualities < 1:
        raise ValueError("the curriculum needs at least one quality")
    if n_qualities == 1:
        return ("warmup", "polish")
    if n_qualities == 2:
        return ("warmup", "expand", "polish")
    return PHASE_NAMES


class TaskOversamplingConfig(StrictModel):
    """Inverse-power task oversampling: a row's weight is ``n_primary ** -alpha``."""

    enabled: bool = False
    alpha: float = Field(default=0.5, description="Exponent; 0 = no oversampling, 1 = inverse frequency.")


class CurriculumConfig(StrictModel):
    """Quality curriculum: per-quality draw shares that move one phase on at each validation plateau."""

    enabled: bool = False
    quality_col: str = "quality"
    qualities: list[str] = Field(
        default_factory=lambda: ["high", "medium", "low"],
        min_length=1,
        description="Quality labels, best first.",
    )
    patience: int = Field(default=3, ge=1, description="Epochs without improvement that end a phase.")
    min_delta: float = Field(default=1e-4, ge=0.0)
    phase_weights: dict[str, list[float]] | None = Field(
        default=None, description="Per-phase weights (best quality first); phases not given keep defaults."
    )
    count_normalize: bool = Field(
        default=True, description="Row weight p_q / count_q, so quality q gets share p_q of the draws."
    )
    reset_early_stopping_on_phase_change: bool = False
    censored_quality: str | None = Field(
        default=None,
        description="Quality given to rows holding a censored (< / >) label, e.g. the lowest; default: the "
        "row's own quality.",
    )

    @field_validator("qualities")
    @classmethod
    def _unique_qualities(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"quality labels must be unique, got {value}")
        return value

    @field_validator("phase_weights")
    @classmethod
    def _known_phases(cls, value: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
        if value is None:
            return value
        for phase, weights in value.items():
            if phase not in PHASE_NAMES:
                raise ValueError(f"unknown phase {phase!r}; expected one of {list(PHASE_NAMES)}")
            if any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(f"phase {phase!r}: weights must be >= 0 with a positive sum, got {weights}")
        return value

    @model_validator(mode="after")
    def _censored_quality_known(self) -> CurriculumConfig:
        if self.censored_quality is not None and self.censored_quality not in self.qualities:
            raise ValueError(
                f"censored_quality {self.censored_quality!r} is not one of the qualities {self.qualities}"
            )
        return self

    @model_validator(mode="after")
    def _weights_match_qualities(self) -> CurriculumConfig:
        n = len(self.qualities)
        phases = phases_for(n)
        for phase, weights in (self.phase_weights or {}).items():
            if phase not in phases:
                raise ValueError(
                    f"phase_weights: phase {phase!r} does not exist with {n} qualities ({list(phases)})"
                )
            if len(weights) != n:
                raise ValueError(
                    f"phase_weights: phase {phase!r} has {len(weights)} weights for {n} qualities "
                    f"{self.qualities}; give one weight per quality, best first"
                )
        return self


class BatchesConfig(StrictModel):
    """Batch composition: one experiment per batch, a leaky share from others, balanced conditions."""

    experiment_aware: bool = False
    experiment_col: str = "experiment"
    leaky: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Share of each batch from other experiments."
    )
    experiment_weights: dict[str, float] | None = Field(
        default=None, description="Experiment choice weights; default proportional to experiment size."
    )
    condition_balanced: bool = False
    condition_col: str = "condition"
    condition_ratio: dict[str, float] | None = Field(
        default=None, description="Condition shares of a batch's primary part; default equal."
    )

    @field_validator("experiment_weights", "condition_ratio")
    @classmethod
    def _non_negative(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and (any(v < 0 for v in value.values()) or sum(value.values()) <= 0):
            raise ValueError(f"weights must be >= 0 with a positive sum, got {value}")
        return value


class SamplingConfig(StrictModel):
    """How training rows are drawn into batches (SPEC section 2)."""

    task_oversampling: TaskOversamplingConfig = Field(default_factory=TaskOversamplingConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    batches: BatchesConfig = Field(default_factory=BatchesConfig)
    seed: int = 0
    increment_seed_per_epoch: bool = Field(
        default=True,
        description="Epoch generator default_rng([seed, epoch]) when true, default_rng([seed]) when false.",
    )
    log_weight_statistics: bool = True
