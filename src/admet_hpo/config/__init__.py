"""Typed configuration models and their YAML loading."""

from admet_hpo.config.sampling import (
    BatchesConfig,
    CurriculumConfig,
    SamplingConfig,
    TaskOversamplingConfig,
)
from admet_hpo.config.training import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    SplitConfig,
    TrainerConfig,
    TrainingConfig,
    load_training_config,
)

__all__ = [
    "BatchesConfig",
    "CurriculumConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "SamplingConfig",
    "SplitConfig",
    "TaskOversamplingConfig",
    "TrainerConfig",
    "TrainingConfig",
    "load_training_config",
]
