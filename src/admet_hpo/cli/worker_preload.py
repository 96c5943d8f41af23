"""Imported by the fork server of ``hpo run --workers N`` (:mod:`admet_hpo.orchestration.launcher`)
before it forks any worker: what a worker needs up to its first training step, so that every forked
worker starts with it imported. Only the fork server imports this module.

The server shares the launcher's terminal, so Ctrl-C reaches it too: it is ignored here, before the
imports (the launcher reports the interruption; a forked worker restores Ctrl-C first thing). Nothing
here touches CUDA: a worker's ``CUDA_VISIBLE_DEVICES``, set after the fork, still decides its devices.
"""

import signal


def preload() -> None:
    """Ignore Ctrl-C in this process, then import the worker's own code (command, session, runner,
    objective, tracker, data loading, training with chemprop, Lightning and torch) and what opening its
    study loads lazily: Optuna's RDB storage with Alembic and the SQLite and PostgreSQL dialects, and the
    MLflow client with its SQL tracking store."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import alembic.command  # Optuna's RDB storage checks its schema version with Alembic
    import alembic.migration  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store
    import mlflow.tracking  # noqa: F401
    import sqlalchemy.dialects.postgresql
    import sqlalchemy.dialects.sqlite  # noqa: F401
    from optuna.storages import RDBStorage  # noqa: F401  # imported lazily by Optuna

    import admet_hpo.cli.existing_study
    import admet_hpo.cli.progress
    import admet_hpo.cli.study_commands
    import admet_hpo.data.training_data
    import admet_hpo.orchestration.runner
    import admet_hpo.search.objective
    import admet_hpo.storage.rdb
    import admet_hpo.tracking.tracker
    import admet_hpo.training.run  # noqa: F401


preload()
