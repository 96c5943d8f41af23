"""A changed search space gets a new versioned study name, avoiding Optuna's changed-distribution error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from admet_hpo.config.study import load_study
from admet_hpo.search.space import space_hash, suggest
from admet_hpo.search.versioning import study_versions, versioned_study_name

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}


def _study_file(write_yaml: Callable[..., Path], alpha: dict[str, Any], storage: str | None = None) -> Path:
    write_yaml("spaces/sampler.yaml", {"parameters": {"alpha": alpha}})
    content: dict[str, Any] = {
        "name": "demo-study",
        "search_spaces": ["spaces/sampler.yaml"],
        "data": {"dataset": "demo"},
        "n_trials": 2,
    }
    if storage is not None:
        content["storage"] = storage
    return write_yaml("study.yaml", content)


def _run_one_trial(study: optuna.Study, space: Any) -> None:
    trial = study.ask()
    suggest(trial, space)
    study.tell(trial, 1.0)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_changed_space_starts_a_new_version_where_the_old_name_would_crash(
    write_yaml: Callable[..., Path], tmp_path: Path, backend: str
) -> None:
    storage: Any = (
        optuna.storages.InMemoryStorage() if backend == "memory" else f"sqlite:///{tmp_path / 'o.db'}"
    )
    old = load_study(_study_file(write_yaml, ALPHA))
    old_name = versioned_study_name(old)
    assert old_name == f"demo-study-{space_hash(old.space)[:8]}"
    _run_one_trial(optuna.create_study(study_name=old_name, storage=storage), old.space)

    new = load_study(_study_file(write_yaml, {**ALPHA, "low": 0.01, "log": True}))
    new_name = versioned_study_name(new)
    assert new_name != old_name

    reused = optuna.load_study(study_name=old_name, storage=storage)
    with pytest.raises(ValueError, match="Cannot set different"):
        _run_one_trial(reused, new.space)

    _run_one_trial(optuna.create_study(study_name=new_name, storage=storage), new.space)
    assert study_versions(new, storage) == sorted([old_name, new_name])
    assert len(optuna.load_study(study_name=old_name, storage=storage).trials) >= 1


def test_an_unchanged_space_keeps_its_name(write_yaml: Callable[..., Path]) -> None:
    first = versioned_study_name(load_study(_study_file(write_yaml, ALPHA)))
    again = versioned_study_name(load_study(_study_file(write_yaml, {**ALPHA, "description": "documented"})))
    assert first == again


def test_study_versions_ignores_other_studies(write_yaml: Callable[..., Path]) -> None:
    study = load_study(_study_file(write_yaml, ALPHA))
    storage = optuna.storages.InMemoryStorage()
    for name in ("demo-study-0123abcd", "demo-study", "demo-study-extra-0123abcd", "other-0123abcd"):
        optuna.create_study(study_name=name, storage=storage)
    assert study_versions(study, storage) == ["demo-study-0123abcd"]
