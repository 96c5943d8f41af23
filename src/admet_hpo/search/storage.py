"""Optuna RDB storage for a study: SQLite on one machine, PostgreSQL (or another RDB) across many."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from admet_hpo.errors import ConfigError
from admet_hpo.tracking.urls import mask_url

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

    from admet_hpo.config.study import HeartbeatConfig

SQLITE_BUSY_TIMEOUT_S = 60


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other back ends and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def engine_kwargs(url: str) -> dict[str, object]:
    """SQLAlchemy engine options: a long busy timeout for SQLite, ``pool_pre_ping`` for servers."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "pool_size": 2, "max_overflow": 2}


def open_storage(url: str, heartbeat: HeartbeatConfig | None = None, *, create: bool = True) -> RDBStorage:
    """An Optuna ``RDBStorage`` at ``url``.

    With ``heartbeat``, running trials send heartbeats every ``interval`` seconds; a trial silent for the
    grace period is failed by the next worker that asks for a trial, and re-queued (up to ``max_retry``
    times) by ``RetryHeartbeatStaleTrialCallback``. ``create=False`` refuses to create a missing SQLite
    file (commands that only read a study). Errors name the URL with its password masked.
    """
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    database = sqlite_file(url)
    if database is not None:
        if not create and not database.is_file():
            raise ConfigError(f"no study storage at {database} (run 'hpo run' first, or pass --storage)")
        database.parent.mkdir(parents=True, exist_ok=True)
    heartbeat_kwargs: dict[str, object] = {}
    if heartbeat is not None:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry),
        }
    try:
        return RDBStorage(url, engine_kwargs=engine_kwargs(url), **heartbeat_kwargs)
    except (optuna.exceptions.StorageInternalError, ImportError, ValueError) as exc:
        raise ConfigError(f"cannot open study storage {mask_url(url)}: {exc}") from None
