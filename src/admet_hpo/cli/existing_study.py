"""The study a command reads: its resolved session and its existing Optuna study (``hpo status``,
``best``, ``export``, ``replay``, ``worker``, ``finalize``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from admet_hpo.orchestration.session import StudySession


@contextmanager
def existing_study(
    study_file: Path, storage: str | None, tracking_uri: str | None = None, output_dir: Path | None = None
) -> Iterator[tuple[StudySession, optuna.Study]]:
    """The command's study session (flags > environment > study file) and the session's existing Optuna
    study; nothing is created: a missing SQLite file or a storage without this study version is a
    :class:`~admet_hpo.errors.ConfigError` that says to run ``hpo run`` first."""
    from admet_hpo.cli.console import quiet_libraries
    from admet_hpo.config.locations import require_sqlite_file
    from admet_hpo.errors import ConfigError
    from admet_hpo.orchestration.runner import load_existing_study
    from admet_hpo.orchestration.session import StudySession

    with StudySession.open(
        study_file, storage=storage, tracking_uri=tracking_uri, output_dir=output_dir
    ) as session:
        quiet_libraries()
        source = session.study.source
        require_sqlite_file(session.study.storage, f"run 'hpo run {source}' first")
        try:
            optuna_study = load_existing_study(session)
        except KeyError:
            raise ConfigError(
                f"{source}: the storage has no study for this search space yet (run 'hpo run {source}')"
            ) from None
        yield session, optuna_study
