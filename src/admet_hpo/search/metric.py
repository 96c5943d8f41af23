"""The study metric a study file names, checked against its data's targets before any trial trains.

A typo'd ``metric`` would otherwise surface as a KeyError after the first training. The check needs the
target names (``data.target_cols``, or a known data set's own), so it runs where a study is put to use:
:meth:`~admet_hpo.orchestration.session.StudySession.open` (every command and worker) and ``hpo validate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from admet_hpo.errors import ConfigError

if TYPE_CHECKING:
    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig


def study_task_names(base: TrainingConfig) -> tuple[str, ...]:
    """The base config's target columns: ``data.target_cols``, or the known data set's own (none when the
    data set name is unknown: that is reported when the data is loaded)."""
    if base.data.target_cols:
        return tuple(base.data.target_cols)
    from admet_hpo.data.known.registry import KNOWN_DATASETS

    known = KNOWN_DATASETS.get(base.data.dataset or "")
    return () if known is None else tuple(known.target_cols)


def check_study_metric(study: Study) -> Study:
    """``study`` if its metric is an epoch metric of its targets, optimised in its own sense (see
    :func:`~admet_hpo.training.metrics.study_metric_problem`); else a ConfigError naming the file and key."""
    from admet_hpo.training.metrics import study_metric_problem

    problem = study_metric_problem(study.metric, study.direction, study_task_names(study.base_training))
    if problem is not None:
        key, message = problem
        raise ConfigError(f"{study.source}: {key}: {message}")
    return study
