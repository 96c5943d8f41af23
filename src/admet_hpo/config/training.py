"""The training config: data, split, model, optimiser, trainer and sampling sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from admet_hpo.config.base import StrictModel
from admet_hpo.config.sampling import SamplingConfig


class TargetTransformConfig(StrictModel):
    """Raw assay units -> modelled scale for one target: ``[-] log10(max(v + offset, floor))``.

    Applied to values and bounds before standardisation; ``negate`` swaps ``<`` and ``>``. With
    ``log10``, zeros need an ``offset`` or a ``floor``; a value that is still not positive is an error.
    """

    log10: bool = Field(default=False, description="Take log10 (after offset and floor).")
    offset: float = Field(
        default=0.0, description="Added before the floor and log10, e.g. 1 for log10(v + 1)."
    )
    floor: float | None = Field(
        default=None, gt=0, description="Values (and bounds) below it are raised to it before log10."
    )
    negate: bool = Field(default=False, description="Flip the sign last (e.g. pIC50 = -log10(IC50)).")


class DataConfig(StrictModel):
    """Where the table comes from and which of its columns mean what (SPEC section 1).

    Exactly one of ``dataset`` (a known set built by the product, e.g. ``demo``) or ``path`` (a CSV or
    Parquet file; relative paths are relative to the config file) is given. The quality, experiment and
    condition column names live in the ``sampling`` block that needs them.
    """

    dataset: str | None = Field(default=None, description="Known data set name: demo, biogen_adme, ...")
    path: Path | None = Field(default=None, description="CSV or Parquet table.")
    smiles_col: str = "smiles"
    target_cols: list[str] | None = Field(
        default=None, description="Target columns; a known data set supplies its own when omitted."
    )
    split_col: str | None = Field(default=None, description="Column with train/val/test for method 'column'.")
    strict: bool = Field(default=False, description="Reject the table on any unparsable SMILES.")
    qualifier_cols: str | dict[str, str] | None = Field(
        default=None,
        description="Qualifier columns (=, <, >, <=, >=): a pattern such as '{target} modifier' (one column "
        "per target) or a mapping target -> column. Inline qualifiers ('<0.1') are always read.",
    )
    transforms: dict[str, TargetTransformConfig] = Field(
        default_factory=dict, description="Per-target transforms from raw units, by target column."
    )

    @field_validator("qualifier_cols")
    @classmethod
    def _pattern_names_target(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if isinstance(value, str) and "{target}" not in value:
            raise ValueError(f"the pattern {value!r} must contain '{{target}}', e.g. '{{target}} modifier'")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of 'dataset' (a known data set) or 'path' (a table file)")
        if self.path is not None and not self.target_cols:
            raise ValueError("'target_cols' is required when 'path' is given")
        if self.target_cols:
            for key, names in (("transforms", self.transforms), ("qualifier_cols", self.qualifier_cols)):
                unknown = sorted(set(names if isinstance(names, dict) else ()) - set(self.target_cols))
                if unknown:
                    raise ValueError(f"{key}: {unknown} not in target_cols {self.target_cols}")
        return self


class SplitConfig(StrictModel):
    """Train/validation/test split, computed once per study and grouped by molecule."""

    method: Literal["scaffold", "random", "column"] = "scaffold"
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    molecules_may_cross: bool = Field(
        default=False,
        description="method 'column' only: let a molecule's records sit in different parts (per-endpoint "
        "benchmark splits); a warning counts the molecules that cross. Default: such a table is refused.",
    )

    @field_validator("sizes")
    @classmethod
    def _sizes_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v < 0 for v in value) or abs(sum(value) - 1.0) > 1e-6 or value[0] <= 0:
            raise ValueError(f"sizes must be non-negative fractions summing to 1 with train > 0, got {value}")
        return value

    @model_validator(mode="after")
    def _crossing_needs_column(self) -> SplitConfig:
        if self.molecules_may_cross and self.method != "column":
            raise ValueError(
                f"molecules_may_cross applies to method 'column' only (method is {self.method!r}: its parts "
                "are grouped by molecule)"
            )
        return self


class ModelConfig(StrictModel):
    """chemprop v2 MPNN: bond message passing, aggregation, regression FFN."""

    message_hidden_dim: int = Field(default=300, ge=1)
    depth: int = Field(default=3, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    activation: Literal["relu", "leakyrelu", "prelu", "tanh", "selu", "elu"] = "relu"
    aggregation: Literal["mean", "sum", "norm"] = "norm"
    batch_norm: bool = False
    ffn_hidden_dim: int = Field(default=300, ge=1)
    ffn_num_layers: int = Field(default=1, ge=1)
    descriptors: Literal["none", "rdkit2d", "morgan_count", "morgan_binary", "rdkit2d+morgan_count"] = Field(
        default="none",
        description="Extra molecule features concatenated after aggregation (chemprop's X_d): RDKit 2D "
        "descriptors, Morgan fingerprints (radius 2, 2048 bits; counts or bits), or RDKit 2D + Morgan "
        "counts. Computed once per molecule set and cached; scaled on the training split.",
    )


class OptimConfig(StrictModel):
    """chemprop's Noam-like schedule: linear warmup init_lr -> max_lr, then decay to final_lr."""

    warmup_epochs: int = Field(default=2, ge=0)
    init_lr: float = Field(default=1e-4, gt=0)
    max_lr: float = Field(default=1e-3, gt=0)
    final_lr: float = Field(default=1e-4, gt=0)


class TrainerConfig(StrictModel):
    """Lightning trainer settings."""

    max_epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=64, ge=1)
    accelerator: Literal["auto", "cpu", "gpu", "cuda"] = Field(
        default="auto", description="auto: a GPU when one is visible, else the CPU."
    )
    devices: int | str = Field(
        default=1,
        description="Processes (devices) per training: more than 1 trains with DDP; at most the machine's.",
    )
    early_stopping_patience: int | None = Field(default=10, ge=1, description="None disables early stopping.")
    seed: int = 0
    num_workers: int = Field(default=0, ge=0)
    progress_bar: bool = True


class TrainingConfig(StrictModel):
    """Everything needed to train one configuration with ``hpo train``."""

    data: DataConfig
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    censored: Literal["loss", "drop", "as_exact"] = Field(
        default="loss",
        description="Censored labels (< / > bounds): 'loss' penalises only predictions on the wrong side "
        "of the bound, 'drop' removes them from training, 'as_exact' trains on the bound as a value.",
    )
    output_dir: Path = Field(default=Path("runs/train"), description="Checkpoints and metrics go here.")

    @model_validator(mode="after")
    def _epochs_exceed_warmup(self) -> TrainingConfig:
        if self.trainer.max_epochs <= self.optim.warmup_epochs:
            raise ValueError(
                f"trainer.max_epochs ({self.trainer.max_epochs}) must exceed optim.warmup_epochs "
                f"({self.optim.warmup_epochs}); chemprop's scheduler needs epochs after warmup"
            )
        return self


def load_training_config(path: Path) -> TrainingConfig:
    """Load a training config YAML; relative ``data.path`` and ``output_dir`` are resolved from its folder.

    Legacy flat keys are rewritten to the current schema first (with a deprecation warning).
    """
    from admet_hpo.config.legacy import upgrade_legacy_training_mapping
    from admet_hpo.config.loading import read_yaml_mapping, resolve_relative, validate_mapping

    path = Path(path)
    raw = upgrade_legacy_training_mapping(read_yaml_mapping(path), source=str(path))
    config = validate_mapping(TrainingConfig, raw, source=str(path))
    base = path.resolve().parent
    updates: dict[str, object] = {"output_dir": resolve_relative(base, config.output_dir)}
    if config.data.path is not None:
        config.data = config.data.model_copy(update={"path": resolve_relative(base, config.data.path)})
    return config.model_copy(update=updates)
