"""One study session: everything an invocation resolves once, at the command boundary.

A command (``hpo run``, ``worker``, ``nightly``, ``status`` ...) and every worker process start one
:class:`StudySession` and pass it down; nothing below re-derives what it holds:

- the study file, loaded with its locations resolved by :func:`resolve_locations` (flag > environment >
  study file, for the storage, the MLflow tracking store and the output folder);
- one Optuna storage (one SQLAlchemy engine for the process), opened on first use and disposed by
  :meth:`StudySession.close`;
- each Optuna study opened once (by name and worker index, :attr:`StudySession.optuna_studies`);
- one MLflow tracker per Optuna study, whose parent run is started once (:meth:`StudySession.tracker`);
- the training table and split, loaded once (:attr:`StudySession.data`).

A nightly sweep that moves to a data version of the study uses :meth:`StudySession.for_study`: the same
storage and data, the version's own tracker.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from admet_hpo.config.study import Locations, load_study

if TYPE_CHECKING:
    import optuna

    from admet_hpo.config.study import Study
    from admet_hpo.data.table import MoleculeTable, SplitIndices
    from admet_hpo.tracking.tracker import StudyTracker

#: Environment variables a session reads when no flag is given (and launchers set for their workers).
STORAGE_ENV = "ADMET_HPO_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
OUTPUT_ENV = "ADMET_HPO_OUTPUT"


def resolve_locations(
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    output_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Locations:
    """The locations given from outside the study file: each flag, else its environment variable
    (:data:`STORAGE_ENV`, :data:`TRACKING_ENV`, :data:`OUTPUT_ENV`; empty values count as unset), else
    None (the study file decides)."""
    env = os.environ if environ is None else environ

    def pick(flag: str | None, variable: str) -> str | None:
        return flag or env.get(variable) or None

    output = output_dir if output_dir is not None else pick(None, OUTPUT_ENV)
    return Locations(
        output_dir=None if output is None else Path(output),
        storage=pick(storage, STORAGE_ENV),
        tracking_uri=pick(tracking_uri, TRACKING_ENV),
    )


def location_environment(study: Study) -> dict[str, str]:
    """The environment that makes a worker process resolve the same locations as ``study``."""
    return {
        STORAGE_ENV: study.storage,
        TRACKING_ENV: study.mlflow_tracking_uri,
        OUTPUT_ENV: str(study.output_dir),
    }


@dataclasses.dataclass
class _Shared:
    """What the sessions of one process share: the storage, the loaded data, the trackers by study, the
    opened Optuna studies by (name, worker index)."""

    storage: Any = None
    data: tuple[MoleculeTable, SplitIndices] | None = None
    trackers: dict[str, StudyTracker] = dataclasses.field(default_factory=dict)
    optuna_studies: dict[tuple[str, int], optuna.Study] = dataclasses.field(default_factory=dict)


class StudySession:
    """A study resolved once for this process; see the module docstring. Use it as a context manager
    (or call :meth:`close`): the storage's engine is disposed and tracked work flushed at the end."""

    def __init__(self, study: Study, *, _shared: _Shared | None = None) -> None:
        self.study = study
        self._shared = _shared or _Shared()

    @classmethod
    def open(
        cls,
        study_file: Path,
        *,
        storage: str | None = None,
        tracking_uri: str | None = None,
        output_dir: Path | None = None,
        sets: Sequence[str] = (),
    ) -> StudySession:
        """Load ``study_file`` with the locations of :func:`resolve_locations` (flags as given here) and
        the ``--set key.path=value`` overrides ``sets`` of its base training config
        (:func:`~admet_hpo.config.overrides.override_study`); its metric is checked
        (:func:`~admet_hpo.search.metric.check_study_metric`)."""
        from admet_hpo.config.overrides import override_study
        from admet_hpo.search.metric import check_study_metric

        locations = resolve_locations(storage=storage, tracking_uri=tracking_uri, output_dir=output_dir)
        return cls(check_study_metric(override_study(load_study(study_file, locations), sets)))

    def for_study(self, study: Study) -> StudySession:
        """A session of another version of this study (e.g. a data version of a nightly sweep) sharing
        this session's storage, data and trackers; closing this session closes both."""
        return StudySession(study, _shared=self._shared)

    @property
    def storage(self) -> Any:
        """The Optuna storage of :attr:`Study.storage`, opened on first use (once per process)."""
        from admet_hpo.storage.rdb import open_storage

        if self._shared.storage is None:
            self._shared.storage = open_storage(self.study.storage, self.study.heartbeat)
        return self._shared.storage

    @property
    def data(self) -> tuple[MoleculeTable, SplitIndices]:
        """The study's training table and split, loaded on first use (once per process)."""
        from admet_hpo.data.training_data import load_training_data

        if self._shared.data is None:
            self._shared.data = load_training_data(self.study.base_training, space=self.study.space)
        return self._shared.data

    @property
    def optuna_studies(self) -> dict[tuple[str, int], optuna.Study]:
        """The Optuna studies opened in this process, by name and worker index (the sampler's seed
        offset): :mod:`~admet_hpo.orchestration.runner` opens each once."""
        return self._shared.optuna_studies

    def tracker(self, optuna_study: optuna.Study) -> StudyTracker:
        """The MLflow tracker of ``optuna_study``, its experiment and parent run started on first use."""
        from admet_hpo.tracking.tracker import StudyTracker

        tracker = self._shared.trackers.get(optuna_study.study_name)
        if tracker is None:
            tracker = StudyTracker(self.study.mlflow_tracking_uri)
            tracker.start_study(optuna_study, storage_url=self.study.storage)
            self._shared.trackers[optuna_study.study_name] = tracker
        return tracker

    def close(self) -> None:
        """Wait for the trackers' pending MLflow work, then dispose of the storage's engine."""
        try:
            for tracker in self._shared.trackers.values():
                tracker.flush()
        finally:
            storage, self._shared.storage = self._shared.storage, None
            engine = getattr(storage, "engine", None)
            if engine is not None:
                engine.dispose()
            elif storage is not None and hasattr(storage, "close"):
                storage.close()  # the gRPC proxy client

    def __enter__(self) -> StudySession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
