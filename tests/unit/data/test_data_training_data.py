"""From a training config to a validated table and split: spec mapping, known sets, training labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.known import demo
from admet_hpo.data.training_data import load_training_data, table_spec_from_config
from admet_hpo.errors import ConfigError, DataFetchError, DataValidationError


def config(**sections: object) -> TrainingConfig:
    return TrainingConfig.model_validate(sections)


def test_spec_defaults_to_the_known_sets_targets_and_optional_columns() -> None:
    spec = table_spec_from_config(config(data={"dataset": "demo"}))
    assert spec.target_cols == demo.TARGETS
    assert spec.qualities is None
    assert not spec.require_experiment and not spec.require_condition
    assert spec.split_col is None and not spec.strict


def test_spec_follows_curriculum_and_batch_settings() -> None:
    spec = table_spec_from_config(
        config(
            data={"path": "t.csv", "target_cols": ["y1", "y2"], "smiles_col": "SMILES", "strict": True},
            sampling={
                "curriculum": {"enabled": True, "quality_col": "grade", "qualities": ["good", "bad"]},
                "batches": {
                    "experiment_aware": True,
                    "experiment_col": "lab",
                    "condition_balanced": True,
                    "condition_col": "species",
                },
            },
        )
    )
    assert spec.target_cols == ("y1", "y2") and spec.smiles_col == "SMILES" and spec.strict
    assert (spec.quality_col, spec.qualities) == ("grade", ("good", "bad"))
    assert (spec.experiment_col, spec.require_experiment) == ("lab", True)
    assert (spec.condition_col, spec.require_condition) == ("species", True)


def test_curriculum_off_does_not_require_qualities() -> None:
    spec = table_spec_from_config(
        config(data={"dataset": "demo"}, sampling={"curriculum": {"qualities": ["a"]}})
    )
    assert spec.qualities is None


def test_column_split_needs_a_split_column() -> None:
    with pytest.raises(ConfigError, match=r"data\.split_col: required when split\.method is 'column'"):
        table_spec_from_config(config(data={"dataset": "demo"}, split={"method": "column"}))
    spec = table_spec_from_config(
        config(data={"dataset": "demo", "split_col": "fold"}, split={"method": "column"})
    )
    assert spec.split_col == "fold"


def test_load_training_data_builds_demo_and_splits_deterministically(tmp_path: Path) -> None:
    cfg = config(
        data={"dataset": "demo"},
        sampling={
            "curriculum": {"enabled": True},
            "batches": {"experiment_aware": True, "condition_balanced": True},
        },
    )
    table, split = load_training_data(cfg, cache_dir=tmp_path)
    assert table.target_names == demo.TARGETS
    assert table.quality is not None and table.experiment is not None and table.condition is not None
    assert len(split.train) + len(split.val) + len(split.test) == len(table)
    again_table, again_split = load_training_data(cfg, cache_dir=tmp_path)
    assert again_table.content_hash == table.content_hash
    assert again_split.split_hash == split.split_hash


def test_load_training_data_from_a_path(write_csv) -> None:
    path = write_csv("smiles,y,fold\nCCO,1,train\nCCN,2,val\nCCC,3,test\nc1ccccc1,4,train\n")
    cfg = config(
        data={"path": str(path), "target_cols": ["y"], "split_col": "fold"}, split={"method": "column"}
    )
    table, split = load_training_data(cfg)
    assert split.train.tolist() == [0, 3] and split.val.tolist() == [1] and split.test.tolist() == [2]
    assert table.source == str(path)


def test_a_target_without_training_labels_is_an_error_naming_column_and_split(write_csv) -> None:
    path = write_csv("smiles,a,b,fold\nCCO,1,,train\nCCN,2,5,val\nCCC,3,6,test\nc1ccccc1,4,,train\n")
    cfg = config(
        data={"path": str(path), "target_cols": ["a", "b"], "split_col": "fold"}, split={"method": "column"}
    )
    with pytest.raises(
        DataValidationError,
        match=r"table\.csv: target column\(s\) 'b' \(2 labels in the table\) have no labels in the training "
        r"split \(2 train rows, split method 'column'\)",
    ):
        load_training_data(cfg)


def test_public_set_not_in_cache_asks_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DataFetchError, match=r"hpo data fetch adme_multisource --from PATH"):
        load_training_data(config(data={"dataset": "adme_multisource"}), cache_dir=tmp_path)


def test_unknown_known_set_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFetchError, match=r"unknown data set 'nope'"):
        load_training_data(config(data={"dataset": "nope"}), cache_dir=tmp_path)


def test_condition_shares_must_cover_the_training_conditions() -> None:
    balanced = {"batches": {"condition_balanced": True, "condition_ratio": {"human": 1.0, "dog": 1.0}}}
    with pytest.raises(
        ConfigError,
        match=r"training config: sampling\.batches\.condition_ratio: no share for condition\(s\) 'rat' of "
        r"the training rows of .*demo.*; expected one key for each of 'human', 'rat'",
    ):
        load_training_data(config(data={"dataset": "demo"}, sampling=balanced))
    unused = {"batches": {"condition_balanced": False, "condition_ratio": {"human": 1.0}}}
    load_training_data(config(data={"dataset": "demo"}, sampling=unused))  # not balanced: shares unused


def test_searched_condition_shares_must_cover_the_training_conditions(write_yaml) -> None:
    from admet_hpo.config.search_space import load_search_space

    ratio = {"path": "sampling.batches.condition_ratio", "type": "simplex", "keys": ["human", "mouse"]}
    path = write_yaml("space.yaml", {"parameters": {"shares": ratio}})
    space = load_search_space(path)
    with pytest.raises(
        ConfigError, match=rf"{path}: parameters\.shares\.keys: no share for condition\(s\) 'rat'"
    ):
        load_training_data(config(data={"dataset": "demo"}), space=space)
