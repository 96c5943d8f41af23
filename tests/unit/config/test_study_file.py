"""load_study: defaults, path and URL resolution, base training config, overrides and every error."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from admet_hpo.config.locations import absolute_sqlite_url
from admet_hpo.config.study import load_study
from admet_hpo.errors import ConfigError
from admet_hpo.search.metric import check_study_metric

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}


@pytest.fixture
def study_file(write_yaml: Callable[..., Path]) -> Callable[..., Path]:
    """Write spaces/sampler.yaml and studies/s.yaml with the minimal keys plus ``extra`` (None deletes)."""
    write_yaml("spaces/sampler.yaml", {"parameters": {"alpha": ALPHA}})

    def write(**extra: Any) -> Path:
        content: dict[str, Any] = {
            "name": "s1",
            "search_spaces": ["../spaces/sampler.yaml"],
            "data": {"dataset": "demo"},
            "n_trials": 3,
        }
        content.update(extra)
        return write_yaml("studies/s.yaml", {k: v for k, v in content.items() if v is not None})

    return write


def test_minimal_study_gets_absolute_defaults_beside_its_outputs(study_file: Callable[..., Path]) -> None:
    path = study_file()
    study = load_study(path)
    output = path.parent.resolve() / "runs" / "s1"
    assert study.output_dir == output
    assert study.storage == f"sqlite:///{output}/optuna.db" and study.storage.startswith("sqlite:////")
    assert study.mlflow_tracking_uri == f"sqlite:///{output}/mlflow.db"
    assert (study.metric, study.direction, study.n_trials, study.timeout) == ("val_loss", "minimize", 3, None)
    assert (study.sampler.type, study.pruner.type) == ("tpe", "hyperband")
    assert study.base_training.data.dataset == "demo"
    assert list(study.space.parameters) == ["alpha"]
    assert study.space.files == [path.parent.resolve().parent / "spaces" / "sampler.yaml"]
    assert (study.heartbeat.interval, study.heartbeat.max_retry) == (60, 3)
    assert (study.nightly.n_trials, study.nightly.cron, study.nightly.warm_start_top_k) == (
        20,
        "0 2 * * *",
        5,
    )


def test_relative_sqlite_urls_and_output_dir_resolve_against_the_study_file(
    study_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path / "spaces")  # the working directory must not matter
    path = study_file(
        storage="sqlite:///db/optuna.db?timeout=30",
        mlflow={"tracking_uri": "sqlite:///../tracking.db"},
        output_dir="../out",
    )
    study = load_study(path)
    folder = path.parent.resolve()
    assert study.storage == f"sqlite:///{folder}/db/optuna.db?timeout=30"
    assert study.mlflow_tracking_uri == f"sqlite:///{folder.parent}/tracking.db"
    assert study.output_dir == folder.parent / "out"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////abs/optuna.db",
        "sqlite:///:memory:",
        "sqlite://",
        "postgresql+psycopg://u:p@db/optuna",
        "http://x",
    ],
)
def test_absolute_and_non_sqlite_urls_are_kept(url: str, tmp_path: Path) -> None:
    assert absolute_sqlite_url(url, tmp_path) == url


def test_environment_references_in_urls(
    study_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_TEST_PASSWORD", "s3cret")
    study = load_study(study_file(storage="postgresql+psycopg://hpo:${HPO_TEST_PASSWORD}@127.0.0.1/optuna"))
    assert study.storage == "postgresql+psycopg://hpo:s3cret@127.0.0.1/optuna"
    monkeypatch.delenv("HPO_TEST_PASSWORD")
    path = study_file(mlflow={"tracking_uri": "http://${HPO_TEST_PASSWORD}@host"})
    with pytest.raises(
        ConfigError,
        match=rf"{re.escape(str(path))}: mlflow.tracking_uri: environment variable HPO_TEST_PASSWORD is not",
    ):
        load_study(path)


def test_inline_training_with_relative_paths_and_overrides(
    study_file: Callable[..., Path], tmp_path: Path
) -> None:
    training = {
        "data": {"path": "tables/t.csv", "target_cols": ["y"]},
        "model": {"depth": 4},
        "output_dir": "train-out",
    }
    study = load_study(
        study_file(data=None, training=training, max_epochs=9, split={"method": "random", "seed": 3})
    )
    folder = (tmp_path / "studies").resolve()
    config = study.base_training
    assert config.data.path == folder / "tables" / "t.csv"
    assert config.output_dir == folder / "train-out"
    assert (config.model.depth, config.trainer.max_epochs, config.split.method, config.split.seed) == (
        4,
        9,
        "random",
        3,
    )


def test_study_level_data_completes_or_replaces_the_base_data(
    study_file: Callable[..., Path], write_yaml: Callable[..., Path], tmp_path: Path
) -> None:
    inline = load_study(study_file(training={"model": {"depth": 5}}))
    assert inline.base_training.data.dataset == "demo" and inline.base_training.model.depth == 5
    write_yaml("configs/train.yaml", {"data": {"dataset": "biogen_adme"}, "trainer": {"max_epochs": 12}})
    from_file = load_study(study_file(data=None, training_config="../configs/train.yaml"))
    assert from_file.base_training.data.dataset == "biogen_adme"
    assert from_file.base_training.trainer.max_epochs == 12
    replaced = load_study(
        study_file(training_config="../configs/train.yaml", data={"path": "x.csv", "target_cols": ["y"]})
    )
    assert replaced.base_training.data.path == (tmp_path / "studies" / "x.csv").resolve()
    assert replaced.base_training.trainer.max_epochs == 12


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ({"name": "has space"}, "name", "String should match pattern"),
        ({"search_spaces": []}, "search_spaces", "at least 1 item"),
        ({"n_trials": None}, "<top level>", "give n_trials, timeout or both"),
        ({"n_trials": 0}, "n_trials", "greater than or equal to 1"),
        ({"timeout": -5}, "timeout", "greater than 0"),
        ({"data": None}, "<top level>", "give 'training', 'training_config' or at least 'data'"),
        ({"training": {"data": {"dataset": "demo"}}, "training_config": "t.yaml"}, "<top level>", "not both"),
        (
            {"training": {"data": {"dataset": "demo"}, "model": {"depht": 2}}},
            "training.model.depht",
            "unknown key",
        ),
        ({"direction": "down"}, "direction", "'minimize' or 'maximize'"),
        ({"sampler": {"type": "grid"}}, "sampler.type", "'tpe', 'random', 'gp' or 'cmaes'"),
        ({"pruner": {"type": "median", "patience": 2}}, "pruner", "belong to type: patient"),
        ({"pruner": {"type": "patient"}}, "pruner", "a patient pruner needs 'patience'"),
        ({"pruner": {"type": "none", "args": {"x": 1}}}, "pruner", "type: none takes no args"),
        (
            {"pruner": {"type": "patient", "patience": 1, "wrapped": {"type": "nope"}}},
            "pruner.wrapped.type",
            "'median'",
        ),
        ({"heartbeat": {"interval": 60, "grace_period": 30}}, "heartbeat", "must exceed interval"),
        ({"nightly": {"cron": "0 2 * *"}}, "nightly.cron", "expected five fields"),
        ({"nightly": {"cron": "0 25 * * *"}}, "nightly.cron", "invalid cron expression"),
        ({"nightly": {"timezone": "Mars/Olympus"}}, "nightly.timezone", "unknown time zone"),
        ({"nightly": {"n_trials": None}}, "nightly", "give n_trials, minutes or both"),
        ({"storge": "sqlite:///x.db"}, "storge", "unknown key"),
        (
            {"mlflow": {"ui_url": "127.0.0.1:5000"}},
            "mlflow.ui_url",
            "expected an http:// or https:// address",
        ),
        (
            {"metric": "val/mean_pearson", "direction": "maximize"},
            "metric",
            "unknown study metric 'val/mean_pearson' \\(did you mean 'val/mean_pearson_r'\\?\\); expected "
            "val_loss, val/mean_<metric> or val/<task>/<metric> with <metric> one of rmse, mae, r2, "
            "pearson_r, spearman_rho and <task> one of logD, solubility, clearance, permeability, toxicity",
        ),
        ({"metric": "val/logP/rmse"}, "metric", "unknown study metric 'val/logP/rmse'"),
        ({"metric": "test/mean_rmse"}, "metric", "is a test metric.*use 'val/mean_rmse'"),
        ({"metric": "val/mean_pearson_r"}, "direction", "better when higher: use direction: maximize"),
        (
            {"metric": "val/logD/mae", "direction": "maximize"},
            "direction",
            "better when lower: use direction: minimize",
        ),
        ({"metric": "val_loss", "direction": "maximize"}, "direction", "use direction: minimize"),
    ],
)
def test_study_errors_name_file_and_key(
    study_file: Callable[..., Path], extra: dict[str, Any], key: str, expected: str
) -> None:
    path = study_file(**extra)
    with pytest.raises(ConfigError) as info:
        check_study_metric(load_study(path))  # as every command opens a study (the metric last)
    assert re.search(rf"^{re.escape(str(path))}: {re.escape(key)}: .*{expected}", str(info.value), re.M), str(
        info.value
    )


def test_errors_in_referenced_files_name_those_files(
    study_file: Callable[..., Path], write_yaml: Callable[..., Path], tmp_path: Path
) -> None:
    bad_space = write_yaml("spaces/bad.yaml", {"parameters": {"x": {**ALPHA, "low": 2.0}}})
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad_space.resolve()))}: parameters\.x: low"):
        load_study(study_file(search_spaces=["../spaces/bad.yaml"]))
    with pytest.raises(ConfigError, match=r"spaces/absent\.yaml: file not found"):
        load_study(study_file(search_spaces=["../spaces/absent.yaml"]))
    bad_training = write_yaml("configs/bad.yaml", {"data": {"dataset": "demo"}, "model": {"depth": 0}})
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad_training.resolve()))}: model\.depth"):
        load_study(study_file(data=None, training_config="../configs/bad.yaml"))


def test_an_override_that_breaks_the_base_config_names_the_study(study_file: Callable[..., Path]) -> None:
    path = study_file(training={"optim": {"warmup_epochs": 3}}, max_epochs=2)
    with pytest.raises(
        ConfigError,
        match=r"overrides is invalid:\n.*s\.yaml: <top level>: trainer\.max_epochs \(2\) must exceed",
    ):
        load_study(path)


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("val_loss", "minimize"),
        ("val/mean_pearson_r", "maximize"),
        ("val/mean_spearman_rho", "maximize"),
        ("val/mean_rmse", "minimize"),
        ("val/logD/r2", "maximize"),
        ("val/toxicity/mae", "minimize"),
    ],
)
def test_validation_metrics_of_the_targets_are_study_metrics(
    study_file: Callable[..., Path], metric: str, direction: str
) -> None:
    study = load_study(study_file(metric=metric, direction=direction))
    assert (study.metric, study.direction) == (metric, direction)


def test_metric_of_an_explicit_target_column(study_file: Callable[..., Path]) -> None:
    data = {"path": "t.csv", "target_cols": ["Caco-2 (Papp)"]}
    study = check_study_metric(
        load_study(study_file(data=data, metric="val/Caco-2 (Papp)/pearson_r", direction="maximize"))
    )
    assert study.metric == "val/Caco-2 (Papp)/pearson_r"
    with pytest.raises(ConfigError, match=r"<task> one of Caco-2 \(Papp\)$"):
        check_study_metric(load_study(study_file(data=data, metric="val/logD/rmse")))
