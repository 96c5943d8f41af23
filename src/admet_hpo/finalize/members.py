"""Which trials become ensemble members, with which seeds, and each member's training config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial, TrialState

from admet_hpo.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig


@dataclass(frozen=True)
class MemberSpec:
    """A member to train: its name (its folder under ``members/``), trial, seed and resolved config."""

    name: str
    trial: FrozenTrial
    seed: int
    config: TrainingConfig


def top_trials(optuna_study: optuna.Study, top_k: int) -> list[FrozenTrial]:
    """The ``top_k`` best COMPLETE trials, best first (by the study's direction; ties by trial number).
    Fewer when fewer have completed; :class:`ConfigError` when none has."""
    complete = [t for t in optuna_study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        raise ConfigError(
            f"study {optuna_study.study_name} has no completed trial yet: run 'hpo run' until one completes"
        )
    sign = -1.0 if optuna_study.direction.name == "MAXIMIZE" else 1.0
    ranked = sorted(complete, key=lambda t: (sign * float(t.value), t.number))
    return ranked[:top_k]


def member_name(trial_number: int, seed: int) -> str:
    """``trial-0007-seed-1``: a member's folder name under ``members/``."""
    return f"trial-{trial_number:04d}-seed-{seed}"


def member_specs(study: Study, trials: list[FrozenTrial], seeds: int, members_dir: Path) -> list[MemberSpec]:
    """``seeds`` members per trial: the trial's resolved config (base config + its parameters) with
    ``trainer.seed`` = the trial's seed + i (i = 0 .. seeds - 1, so the first member of a trial trains
    exactly as the trial did), its output in ``members_dir/<member>``, no progress bar. Every member
    trains on the same data section (targets, transforms) and split: search spaces cannot change them."""
    from admet_hpo.search.objective import trial_config
    from admet_hpo.search.space import values_from_params

    specs = []
    for trial in trials:
        trial_training = trial_config(study, values_from_params(study.space, trial.params), trial.number)
        for offset in range(seeds):
            seed = trial_training.trainer.seed + offset
            name = member_name(trial.number, seed)
            config = trial_training.model_copy(deep=True)
            config.trainer = config.trainer.model_copy(update={"seed": seed, "progress_bar": False})
            config.output_dir = members_dir / name
            specs.append(MemberSpec(name, trial, seed, config))
    return specs
