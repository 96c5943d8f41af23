"""The quality study's arms: ``arms/base.yaml`` + ``arms/<arm>.yaml`` -> a study file per arm.

An arm file holds what differs between arms (name, the sampler's search spaces, which sampler parts
are on); the base holds everything else. :func:`compose_arm` merges them and adds the run's settings;
:func:`write_study_file` writes the result where the product's ``load_study`` (and ``hpo run``) read it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from admet_hpo.config.training import TrainingConfig

ARMS_DIR = Path(__file__).resolve().parent / "arms"
REPO_DIR = ARMS_DIR.parents[1]
ARMS = ("uniform", "task_oversampling", "curriculum", "batch_composition", "joint")
"""Arm names in report order: arm k is ``arms/<ARMS[k-1]>.yaml``."""

MODEL_SPACES = {
    "small": REPO_DIR / "search_spaces" / "model_small.yaml",
    "full": REPO_DIR / "search_spaces" / "model.yaml",
}


@dataclass(frozen=True)
class RunSettings:
    """What one run of a study script fixes for every arm."""

    n_trials: int
    epochs: int
    model_space: str = "small"
    optuna_seed: int = 0
    #: Replaces the arm's pruner by this type with the product's default arguments ("none" = no pruning)
    #: when it is another type; None (or the arm's own type) keeps the arm's pruner and its arguments.
    pruner: str | None = None

    @property
    def n_startup_trials(self) -> int:
        """TPE's random start: 40 % of the budget, at least 2 and at most 10 trials."""
        return min(10, max(2, round(0.4 * self.n_trials)))


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``: mappings merged key by key, anything else replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_arm(name: str, arms_dir: Path = ARMS_DIR) -> dict[str, Any]:
    """``base.yaml`` merged with ``<name>.yaml``; the arm's search spaces made absolute."""
    from admet_hpo.config.loading import read_yaml_mapping

    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; arms: {', '.join(ARMS)}")
    arm = read_yaml_mapping(arms_dir / f"{name}.yaml")
    spaces = [str((arms_dir / space).resolve()) for space in arm.get("search_spaces", [])]
    return merge(read_yaml_mapping(arms_dir / "base.yaml"), {**arm, "search_spaces": spaces})


def split_config() -> TrainingConfig:
    """The joint arm's base training config on the known data set: it defines the split to freeze and
    needs every column (qualities, experiments, conditions) that any arm reads."""
    from admet_hpo.config.training import TrainingConfig

    return TrainingConfig.model_validate(read_arm("joint")["training"])


def compose_arm(
    name: str,
    settings: RunSettings,
    *,
    output_dir: Path,
    table_path: Path | None = None,
    target_cols: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The study mapping of arm ``name`` for one run.

    Adds the model space, the trial budget, epochs per trial, the Optuna seed and random start, the
    pruner (``settings.pruner``, if set) and ``output_dir`` (storage and MLflow store go
    there by default). With ``table_path`` the arm reads the prepared benchmark table and its frozen
    split column instead of computing the split itself.
    """
    from bench_data import SPLIT_COL

    study = read_arm(name)
    study["search_spaces"] = [*study["search_spaces"], str(MODEL_SPACES[settings.model_space])]
    study["n_trials"] = settings.n_trials
    study["output_dir"] = str(output_dir.resolve())
    study["training"]["trainer"]["max_epochs"] = settings.epochs
    study["sampler"] = merge(
        study["sampler"],
        {"seed": settings.optuna_seed, "args": {"n_startup_trials": settings.n_startup_trials}},
    )
    if settings.pruner is not None and settings.pruner != study["pruner"]["type"]:
        study["pruner"] = {"type": settings.pruner}
    if table_path is not None:
        study["training"]["data"] = {
            "path": str(table_path.resolve()),
            "target_cols": list(target_cols),
            "split_col": SPLIT_COL,
        }
        study["training"]["split"] = {"method": "column"}
    return study


def write_study_file(study: Mapping[str, Any], path: Path) -> Path:
    """Write a composed study mapping as YAML (the folder is created).

    A benchmark starts from fresh studies: a folder that already holds a study's storage
    (``optuna.db``) is refused, since the runner would resume it instead of running a new budget.
    """
    if (path.parent / "optuna.db").exists():
        raise FileExistsError(
            f"{path.parent} already holds a study (optuna.db); remove that folder or choose another "
            "--work-dir (the benchmark runs fresh studies, it does not resume them)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by a benchmark script of benchmarks/ (quality_study, sampler_ablation, cost_study).\n"
    )
    path.write_text(header + yaml.safe_dump(dict(study), sort_keys=False), encoding="utf-8")
    return path
