"""Preparing an MLflow tracking store before workers use it, and where a local store keeps artifacts."""

from __future__ import annotations

import re

from admet_hpo.config.locations import sqlite_database
from admet_hpo.errors import ConfigError
from admet_hpo.masking import mask_text, mask_url

_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
#: Stores opened (and so checked) before workers start: databases, and tracking servers, so that an
#: unreachable server is one clear error instead of a traceback in every worker.
_CHECKED_SCHEMES = (*_DATABASE_SCHEMES, "http", "https")
_UNSAFE_DIRECTORY_CHARACTERS = re.compile(r"[^\w.\-]")


def default_artifact_root(tracking_uri: str) -> str | None:
    """Artifact root for experiments created on ``tracking_uri``: ``<database dir>/mlartifacts`` (absolute)
    for a SQLite file, so artifacts sit beside the database wherever workers are started from; None (the
    store's own default) for every other store."""
    path = sqlite_database(tracking_uri)
    return None if path is None else str(path.resolve().parent / "mlartifacts")


def experiment_artifact_location(artifact_root: str | None, experiment_name: str) -> str | None:
    """``<artifact_root>/<experiment name as a safe directory name>``, or None to let the store decide."""
    if artifact_root is None:
        return None
    return f"{artifact_root.rstrip('/')}/{_UNSAFE_DIRECTORY_CHARACTERS.sub('_', experiment_name)}"


def ensure_tracking_store(tracking_uri: str) -> None:
    """Create the schema of a database-backed tracking store, once, before any worker starts.

    Several processes initialising a fresh SQLite (or other SQL) store at the same time can break it, so
    the process that launches workers calls this first (MLflow creates a SQLite file's directory).
    An HTTP(S) tracking server is only asked for one experiment (it keeps its own schema); a file store
    needs no preparation and is left untouched. Raises :class:`ConfigError` (password masked) when the
    store cannot be opened or reached; MLflow itself retries opening a database for about 100 s, and a
    request to a server ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times, before giving up.
    """
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _CHECKED_SCHEMES:
        return
    import sqlalchemy.exc
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient(tracking_uri).search_experiments(max_results=1)
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError) as exc:
        raise ConfigError(
            f"MLflow tracking store {mask_url(tracking_uri)}: cannot be opened: {mask_text(str(exc))}"
        ) from None
