"""The shipped studies and search spaces validate, point at their schemas, and the schemas are current."""

from __future__ import annotations

from pathlib import Path

import pytest

from admet_hpo.config.schemas import generate_schemas
from admet_hpo.config.study import load_study
from admet_hpo.search.space import ineffective_parameters
from admet_hpo.search.validation import detect_kind, validate_file

REPO = Path(__file__).resolve().parents[3]
STUDIES = sorted((REPO / "studies").glob("*.yaml"))
SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))


def test_the_expected_files_are_shipped() -> None:
    assert {"quickstart.yaml", "biogen_adme.yaml"} <= {path.name for path in STUDIES}
    assert {"joint_sampler.yaml", "model.yaml"} <= {path.name for path in SPACES}


@pytest.mark.parametrize("path", STUDIES + SPACES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_shipped_file_validates_and_names_its_schema(path: Path) -> None:
    kind = detect_kind(path)
    assert kind == ("study" if path.parent.name == "studies" else "space")
    report = validate_file(path)
    assert report.warnings == []
    schema = "study" if kind == "study" else "search_space"
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema=../schemas/{schema}.schema.json"
    assert (path.parent / first_line.split("=", 1)[1]).resolve().is_file()


def test_quickstart_is_small_enough_for_the_ten_minute_budget() -> None:
    study = load_study(REPO / "studies" / "quickstart.yaml")
    assert study.base_training.data.dataset == "demo"
    assert study.base_training.data.target_cols is None
    assert study.n_trials is not None and study.n_trials >= 10
    assert study.base_training.trainer.max_epochs <= 8
    assert study.pruner.type == "successive_halving" and not study.pruner.args  # resources from the epochs
    model_sizes = [p.choices for p in study.space.parameters.values() if p.path == "model.message_hidden_dim"]
    assert model_sizes and max(model_sizes[0]) <= 64


def test_biogen_study_runs_the_full_joint_sampler() -> None:
    study = load_study(REPO / "studies" / "biogen_adme.yaml")
    sampling = study.base_training.sampling
    assert study.base_training.data.dataset == "adme_multisource"
    assert sampling.task_oversampling.enabled and sampling.curriculum.enabled
    assert sampling.batches.experiment_aware and sampling.batches.condition_balanced
    paths = {parameter.path for parameter in study.space.parameters.values()}
    assert {
        "sampling.task_oversampling.alpha",
        "sampling.curriculum.patience",
        "sampling.batches.leaky",
        "sampling.batches.condition_ratio",
    } <= paths
    assert ineffective_parameters(study.base_training, study.space) == []


def test_committed_schemas_are_up_to_date_with_the_models() -> None:
    for name, text in generate_schemas().items():
        committed = REPO / "schemas" / name
        assert committed.is_file(), f"{committed} missing: run `hpo schema`"
        assert committed.read_text(encoding="utf-8") == text, f"{committed} is stale: run `hpo schema`"


@pytest.mark.parametrize("name", ["quickstart", "biogen_adme", "nightly"])
def test_shipped_studies_prune_by_successive_halving_after_warmup(name: str) -> None:
    import optuna

    from admet_hpo.search.algorithms import build_pruner, pruning_steps

    study = load_study(REPO / "studies" / f"{name}.yaml")
    pruner = build_pruner(study)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    decides = pruning_steps(study)
    rungs = [step for step in range(study.base_training.trainer.max_epochs) if decides(step)]
    assert rungs and rungs[0] >= study.base_training.optim.warmup_epochs
