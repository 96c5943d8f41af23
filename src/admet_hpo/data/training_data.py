"""The one entry point from a training config to a validated table and its split."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from admet_hpo.config.search_space import SearchSpace, SimplexParameter
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.censoring import qualifier_columns
from admet_hpo.data.known.fetch import ensure_known_table
from admet_hpo.data.known.registry import get_known
from admet_hpo.data.loading import load_table
from admet_hpo.data.report import label_counts
from admet_hpo.data.splits import split_table
from admet_hpo.data.table import MoleculeTable, SplitIndices, TableSpec
from admet_hpo.errors import ConfigError, DataValidationError


def table_spec_from_config(config: TrainingConfig) -> TableSpec:
    """The columns a training run needs: target columns from ``data.target_cols`` (or the known data
    set's own), qualities only when the curriculum is on, experiment / condition required when batches
    are experiment-aware / condition-balanced, the split column when the split method is ``column``,
    the qualifier columns and per-target transforms of ``data``."""
    data, sampling = config.data, config.sampling
    if data.target_cols:
        targets = tuple(data.target_cols)
    elif data.dataset is not None:
        targets = get_known(data.dataset).target_cols
    else:
        raise ConfigError("data.target_cols: required when data.path is given")
    if config.split.method == "column" and data.split_col is None:
        raise ConfigError(
            "data.split_col: required when split.method is 'column' (the column with train/val/test)"
        )
    curriculum, batches = sampling.curriculum, sampling.batches
    return TableSpec(
        target_cols=targets,
        smiles_col=data.smiles_col,
        quality_col=curriculum.quality_col,
        experiment_col=batches.experiment_col,
        condition_col=batches.condition_col,
        split_col=data.split_col if config.split.method == "column" else None,
        qualities=tuple(curriculum.qualities) if curriculum.enabled else None,
        require_experiment=batches.experiment_aware,
        require_condition=batches.condition_balanced,
        strict=data.strict,
        qualifier_cols=qualifier_columns(data.qualifier_cols, targets),
        transforms=dict(data.transforms),
    )


def resolve_table_path(config: TrainingConfig, cache_dir: Path | str | None = None) -> Path:
    """The table file of ``config.data``: its ``path``, or the cached table of its known ``dataset``."""
    if config.data.path is not None:
        return Path(config.data.path)
    assert config.data.dataset is not None
    return ensure_known_table(config.data.dataset, cache_dir)


def check_training_labels(
    table: MoleculeTable,
    split: SplitIndices,
    split_method: str,
    remedy: str = "drop the column from data.target_cols or change the split",
) -> None:
    """Every target must have labels in the training split (SPEC section 1); ``remedy`` ends the message."""
    in_train = label_counts(table, split.train)
    in_table = label_counts(table)
    empty = [
        f"{name!r} ({in_table[name]} labels in the table)" for name, count in in_train.items() if count == 0
    ]
    if empty:
        raise DataValidationError(
            f"{table.source}: target column(s) {', '.join(empty)} have no labels in the training split "
            f"({len(split.train)} train rows, split method {split_method!r}); expected at least one training "
            f"label per target: {remedy}"
        )


#: The setting whose keys must cover the conditions of the training rows.
CONDITION_RATIO = "sampling.batches.condition_ratio"


def training_conditions(table: MoleculeTable, split: SplitIndices) -> list[str]:
    """The conditions of the labelled training rows (those batches draw from), sorted."""
    if table.condition is None:
        return []
    rows = split.train[np.isfinite(table.targets[split.train]).any(axis=1)]
    return sorted({str(value) for value in table.condition[rows] if value != ""})


def check_condition_ratio(
    table: MoleculeTable, split: SplitIndices, keys: Collection[str], where: str
) -> None:
    """Every condition of the training rows needs a share among ``keys`` (``where`` names the setting);
    otherwise a :class:`ConfigError` before anything trains (the batch sampler would fail every trial)."""
    conditions = training_conditions(table, split)
    missing = [condition for condition in conditions if condition not in keys]
    if missing:
        raise ConfigError(
            f"{where}: no share for condition(s) {', '.join(map(repr, missing))} of the training rows of "
            f"{table.source}; expected one key for each of {', '.join(map(repr, conditions))}"
        )


def check_condition_ratios(
    config: TrainingConfig, table: MoleculeTable, split: SplitIndices, space: SearchSpace | None = None
) -> None:
    """:func:`check_condition_ratio` for the config's own ``condition_ratio`` (when batches are
    condition-balanced) and for every simplex parameter of ``space`` that sets it."""
    batches = config.sampling.batches
    if batches.condition_balanced and batches.condition_ratio is not None:
        check_condition_ratio(table, split, batches.condition_ratio, f"training config: {CONDITION_RATIO}")
    if space is None:
        return
    for name, parameter in space.parameters.items():
        if isinstance(parameter, SimplexParameter) and parameter.path == CONDITION_RATIO:
            where = f"{space.sources[name]}: parameters.{name}.keys"
            check_condition_ratio(table, split, parameter.keys, where)


def load_training_data(
    config: TrainingConfig, cache_dir: Path | str | None = None, space: SearchSpace | None = None
) -> tuple[MoleculeTable, SplitIndices]:
    """Resolve, load, validate and split the data of ``config``.

    A known data set name uses its cached table (``demo`` is built on the fly; the public sets need
    ``hpo data fetch`` first); a path is read as CSV or Parquet. Raises :class:`DataValidationError` /
    :class:`DataFetchError` / :class:`ConfigError` with messages naming the file, column and rows, also
    when condition shares (of ``config`` or searched in ``space``) miss a condition of the training rows.
    """
    spec = table_spec_from_config(config)
    table = load_table(resolve_table_path(config, cache_dir), spec)
    split = split_table(
        table,
        method=config.split.method,
        sizes=config.split.sizes,
        seed=config.split.seed,
        split_col=config.data.split_col or "split",
        molecules_may_cross=config.split.molecules_may_cross,
    )
    check_training_labels(table, split, config.split.method)
    check_condition_ratios(config, table, split, space)
    return table, split
