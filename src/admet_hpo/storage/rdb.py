"""Optuna RDB storage for a study: SQLite on one machine, PostgreSQL (or another RDB) across many.

Connections. Every worker process keeps its own small connection pool (:func:`engine_kwargs`): one
connection for the threads that ask, tell and write the epochs' values
(:mod:`admet_hpo.search.reporting`), one for Optuna's heartbeat thread and one for the study lock
(:func:`study_lock`), plus a little overflow. N workers therefore hold about ``3 N`` connections to a
PostgreSQL server. Pooled connections are checked before use (``pool_pre_ping``), so connections the
server dropped while idle (a restart, ``pg_terminate_backend``, a firewall timeout) are replaced
silently. SQLite waits up to :data:`SQLITE_BUSY_TIMEOUT_S` for another process's write lock.

Transient errors. :class:`ResilientRDBStorage` retries every storage call that fails with a transient
error (a lost or refused connection, a deadlock, a busy SQLite file: :func:`is_transient`) with
exponential backoff until :class:`RetryPolicy`'s deadline, then raises. Retrying is safe because each
call is one transaction that either committed or did not: writes of parameters, attributes and
intermediate values are upserts, and a state change whose commit went through before its connection
dropped is recognised on retry. One window is left, as in Optuna's own retries of trial creation: a
connection lost after the server committed a new trial but before the client heard of it makes the
retry create a second trial, and the first stays RUNNING without heartbeat.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import optuna
from optuna.exceptions import ExperimentalWarning, StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from admet_hpo.config.locations import sqlite_database
from admet_hpo.errors import ConfigError
from admet_hpo.masking import mask_text, mask_url, mask_url_secret_in

if TYPE_CHECKING:
    import sqlalchemy
    from optuna.storages import GrpcStorageProxy

    from admet_hpo.config.study import HeartbeatConfig

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 60
#: Per worker process: the trial thread, the heartbeat thread and the study lock (the reporting thread
#: writes between the trial thread's calls).
POOL_SIZE = 3
POOL_MAX_OVERFLOW = 2
#: Replace pooled connections older than this (servers and firewalls drop long-idle connections).
POOL_RECYCLE_S = 1800
CONNECT_TIMEOUT_S = 10
#: ``application_name`` of the workers' PostgreSQL connections (visible in ``pg_stat_activity``).
APPLICATION_NAME = "admet-hpo"
#: ``application_name`` of the short study-lock connections of workers that use the storage proxy.
LOCK_APPLICATION = "admet-hpo-lock"

T = TypeVar("T")


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: a long busy timeout for SQLite; for servers a per-worker pool
    (:data:`POOL_SIZE` + :data:`POOL_MAX_OVERFLOW`) with ``pool_pre_ping`` and recycling, and for
    PostgreSQL a connect timeout and the ``application_name`` :data:`APPLICATION_NAME`."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_MAX_OVERFLOW,
        "pool_recycle": POOL_RECYCLE_S,
    }
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME}
    return kwargs


def use_write_ahead_log(engine: sqlalchemy.engine.Engine) -> None:
    """Switch a SQLite study file to write-ahead logging (the mode is stored in the file), with
    ``synchronous=NORMAL`` on every connection of ``engine``.

    Each trial writes the storage a few dozen times (parameters, attributes, one report per epoch); with
    SQLite's default rollback journal every commit syncs the journal and the database file. In WAL mode
    with ``synchronous=NORMAL`` a commit appends to the log without a sync, and the log is synced at each
    checkpoint: the file stays consistent after a crash of a worker or of the machine, and a power loss
    can take back the last commits before a checkpoint (trials that then show as RUNNING and are failed
    and re-queued by their heartbeat). Readers never block the writer. WAL needs the file on a local disk
    (not a network file system), which the SQLite storage is documented for.
    """
    from sqlalchemy import event, text

    event.listen(engine, "connect", _synchronous_normal)
    engine.dispose()  # connections pooled before the listener reconnect with it
    with engine.connect() as connection:
        connection.execute(text("PRAGMA journal_mode=WAL"))


def _synchronous_normal(dbapi_connection: Any, _: object) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


# ------------------------------------------------------------------------------------- transient errors


def is_transient(error: BaseException) -> bool:
    """Whether a storage error may go away by itself: a connection that was lost, refused or invalidated,
    a deadlock or lock timeout (database ``OperationalError`` / ``InterfaceError``), a session whose
    connection was lost mid-transaction (``PendingRollbackError``: usable again once rolled back), or a
    locked SQLite file. Optuna's :class:`StorageInternalError` is judged by the database error it wraps.
    Data errors, integrity errors, schema errors and everything else are not transient."""
    import sqlalchemy.exc

    cause = error.__cause__ if isinstance(error, StorageInternalError) else error
    if isinstance(cause, sqlalchemy.exc.PendingRollbackError):
        return True
    if not isinstance(cause, sqlalchemy.exc.DBAPIError):
        return False
    if cause.connection_invalidated:
        return True
    if not isinstance(cause, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return False
    if type(cause.orig).__module__ == "sqlite3":
        message = str(cause.orig).lower()
        return "locked" in message or "busy" in message
    return True


@dataclass(frozen=True)
class RetryPolicy:
    """How transient storage errors are retried: after ``first_wait`` seconds, then doubling up to
    ``max_wait``; no retry is started once ``deadline`` seconds have passed since the first attempt
    (the error is raised). The default rides out a database restart of up to two minutes."""

    deadline: float = 120.0
    first_wait: float = 0.2
    max_wait: float = 2.0


def retry_transient(
    call: Callable[[], T],
    what: str,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``call()``, retried by ``tenacity`` after transient errors (:func:`is_transient`) as ``policy``
    says.

    Each retry is logged as a warning naming ``what`` and the error (credentials masked); ``on_retry``
    is called with the error before each retry. Non-transient errors, and the last transient one, are
    raised unchanged.
    """
    from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        reason = error.__cause__ if isinstance(error, StorageInternalError) else error
        reason = getattr(reason, "orig", None) or reason  # the driver's message, without the SQL
        detail = " ".join(str(reason).split())
        log.warning(
            "%s",
            mask_text(f"study storage: {what} failed ({type(reason).__name__}: {detail})")
            + f"; retrying in {wait:.1f} s",
        )
        if on_retry is not None and error is not None:
            on_retry(error)

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_delay(policy.deadline),
        wait=wait_exponential(multiplier=policy.first_wait, max=policy.max_wait),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(call)


def _retried(name: str) -> Callable[..., Any]:
    """A :class:`ResilientRDBStorage` method that runs RDBStorage's ``name`` under :func:`retry_transient`."""
    method = getattr(RDBStorage, name)

    @functools.wraps(method)
    def retried(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        parent = getattr(super(ResilientRDBStorage, self), name)
        return retry_transient(
            lambda: parent(*args, **kwargs), name, self.retry_policy, on_retry=self.discard_session
        )

    return retried


class ResilientRDBStorage(RDBStorage):
    """Optuna's :class:`~optuna.storages.RDBStorage` whose calls survive transient database errors.

    Every method that runs one transaction (those of :data:`RETRIED_METHODS`, which Optuna's cache layer
    and heartbeat thread call, and the overrides of :data:`OWN_RETRIED_METHODS`) is retried by
    :func:`retry_transient` under ``retry_policy``. Setting a trial's state is retried as well: when a
    retry finds the trial already in the state it was setting (the first attempt committed, then its
    connection dropped), it succeeds instead of raising Optuna's error for updating a finished trial.
    """

    def __init__(self, url: str, *, retry_policy: RetryPolicy | None = None, **kwargs: Any) -> None:
        self.retry_policy = retry_policy or RetryPolicy()
        self._study_ids: dict[str, int] = {}
        super().__init__(url, **kwargs)

    def _retry(self, call: Callable[[], T], name: str) -> T:
        return retry_transient(call, name, self.retry_policy, on_retry=self.discard_session)

    def get_study_id_from_name(self, study_name: str) -> int:
        """The study's id, read from the database once per name (a study keeps its id until deleted;
        Optuna's hyperband pruner asks for it at every suggestion and every rung)."""
        if study_name not in self._study_ids:
            self._study_ids[study_name] = self._retry(
                lambda: RDBStorage.get_study_id_from_name(self, study_name), "get_study_id_from_name"
            )
        return self._study_ids[study_name]

    def delete_study(self, study_id: int) -> None:
        """Delete the study (and forget its id, so a study created again under its name is found)."""
        self._retry(lambda: RDBStorage.delete_study(self, study_id), "delete_study")
        self._study_ids = {name: known for name, known in self._study_ids.items() if known != study_id}

    def discard_session(self, _: BaseException | None = None) -> None:
        """Drop this thread's SQLAlchemy session before a retry: one whose connection was lost inside a
        transaction refuses every later call until rolled back, which Optuna's rollback may not do."""
        self.scoped_session.remove()

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        retrying = False

        def attempt() -> bool:
            try:
                return RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except UpdateFinishedTrialError:
                if retrying and RDBStorage.get_trial(self, trial_id).state == state:
                    return True  # an earlier attempt committed before its connection was lost
                raise

        def note_retry(error: BaseException) -> None:
            nonlocal retrying
            retrying = True
            self.discard_session(error)

        return retry_transient(attempt, "set_trial_state_values", self.retry_policy, on_retry=note_retry)


#: RDBStorage methods that each run one transaction; wrapped by :func:`_retried` (those of
#: :data:`OWN_RETRIED_METHODS` are overridden, retries included). This is the one place that wraps
#: Optuna's private methods: the names are the ones Optuna's ``_CachedStorage`` and heartbeat thread
#: call, and ``test_every_storage_call_of_optunas_cache_and_heartbeat_is_retried`` (in
#: ``tests/unit/storage/test_storage.py``) fails when Optuna renames or adds one.
RETRIED_METHODS = (
    "create_new_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "_create_new_trial",
    "_set_trial_param",
    "get_trial_param",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "_get_trials",
    "_get_best_trial_id",
    "record_heartbeat",
    "_get_stale_trial_ids",
)
for _name in RETRIED_METHODS:
    setattr(ResilientRDBStorage, _name, _retried(_name))
#: ResilientRDBStorage's own overrides of RDBStorage methods, each retried as a whole.
OWN_RETRIED_METHODS = (
    "set_trial_state_values",
    "get_study_id_from_name",
    "delete_study",
)


#: URL scheme of Optuna's gRPC storage proxy (``hpo storage-proxy``): ``grpc://host:port``.
GRPC_SCHEME = "grpc://"
_GRPC_URL = re.compile(r"grpc://(?P<host>[^:/\s]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})/?")


def grpc_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``grpc://host:port`` storage URL (None for database URLs); a malformed
    gRPC URL is a :class:`ConfigError`."""
    if not url.startswith(GRPC_SCHEME):
        return None
    match = _GRPC_URL.fullmatch(url)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ConfigError(f"storage {url!r}: expected grpc://HOST:PORT, e.g. grpc://127.0.0.1:13000")
    return match["host"].strip("[]"), int(match["port"])


def open_proxy(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> GrpcStorageProxy:
    """A client of the gRPC storage proxy at ``host:port``, once it answers (a :class:`ConfigError`
    after ``timeout`` seconds otherwise). No heartbeats and no retries pass through the proxy."""
    from optuna.storages import GrpcStorageProxy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        proxy = GrpcStorageProxy(host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=timeout)
    except ConnectionError:
        proxy.close()
        raise ConfigError(
            f"no storage proxy answers at grpc://{host}:{port} within {timeout:g} s "
            "(is 'hpo storage-proxy' running there?)"
        ) from None
    return proxy


def open_storage(
    url: str,
    heartbeat: HeartbeatConfig | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """An Optuna storage at ``url``: a :class:`ResilientRDBStorage` for a database URL, or a
    ``GrpcStorageProxy`` client for ``grpc://host:port`` (:func:`open_proxy`; ``heartbeat`` and
    ``retry_policy`` then do not apply).

    With ``heartbeat``, running trials send heartbeats every ``interval`` seconds; a trial silent for the
    grace period is failed by the next worker that asks for a trial, and re-queued (up to ``max_retry``
    times) by ``RetryHeartbeatStaleTrialCallback``. A missing SQLite file is created (commands that only
    read a study check first: :func:`~admet_hpo.config.locations.require_sqlite_file`). Errors name the
    URL with its password masked.
    """
    import sqlalchemy.exc
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    address = grpc_address(url)
    if address is not None:
        return open_proxy(*address)
    database = sqlite_database(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are experimental in Optuna 5
        heartbeat_kwargs: dict[str, Any] = {}
        if heartbeat is not None:
            heartbeat_kwargs = {
                "heartbeat_interval": heartbeat.interval,
                "grace_period": heartbeat.grace_period,
                "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                    max_retry=heartbeat.max_retry
                ),
            }
        try:
            storage = ResilientRDBStorage(
                url, engine_kwargs=engine_kwargs(url), retry_policy=retry_policy, **heartbeat_kwargs
            )
            if database is not None:
                use_write_ahead_log(storage.engine)
            return storage
        except (StorageInternalError, ImportError, ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise ConfigError(
                f"cannot open study storage {mask_url(url)}: {mask_url_secret_in(str(reason), url)}"
            ) from None


def fail_stale_trials(optuna_study: optuna.Study) -> None:
    """Optuna's ``fail_stale_trials`` (fail trials whose heartbeat stopped, re-queue them through the
    storage's retry callback) without its experimental-feature warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(optuna_study)


# ------------------------------------------------------------------------------------------ study lock


class StudyLock(Protocol):
    """A lock shared by every worker of one study (see :func:`study_lock`)."""

    def acquire(self) -> None:
        """Block until this worker holds the lock."""

    def release(self) -> None:
        """Release the lock; a no-op when it is not held."""

    def intact(self) -> bool:
        """Whether this worker has held the lock without interruption since it was acquired (False when
        it is not held, or when the holder's database session ended in between, which released it)."""


#: First key of the PostgreSQL advisory locks of admet-hpo (the second key is the study id).
ADVISORY_LOCK_NAMESPACE = 0x41484F50


class PostgresStudyLock:
    """A transaction-level PostgreSQL advisory lock on (:data:`ADVISORY_LOCK_NAMESPACE`, study id).

    The lock lives in an open transaction of a connection of its own: releasing ends the transaction,
    and a connection lost while holding it releases it on the server too, so the lock can never outlive
    its holder."""

    def __init__(self, engine: sqlalchemy.Engine, study_id: int, policy: RetryPolicy) -> None:
        self._engine = engine
        self._study_id = study_id
        self._policy = policy
        self._connection: sqlalchemy.Connection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def acquire(self) -> None:
        import sqlalchemy

        def lock() -> sqlalchemy.Connection:
            connection = self._engine.connect()
            try:
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_xact_lock(:namespace, :study)"),
                    {"namespace": ADVISORY_LOCK_NAMESPACE, "study": self._study_id},
                )
            except BaseException:
                connection.close()
                raise
            return connection

        self.release()
        self._connection = retry_transient(lock, "study lock", self._policy)

    def intact(self) -> bool:
        """The lock's transaction is still open on its connection: a statement in it succeeds (a session
        the server ended, which released the lock, fails, and SQLAlchemy never reconnects inside an open
        transaction)."""
        import sqlalchemy
        import sqlalchemy.exc

        if self._connection is None:
            return False
        try:
            self._connection.execute(sqlalchemy.text("SELECT 1"))
        except sqlalchemy.exc.DBAPIError:
            return False
        return True

    def release(self) -> None:
        import sqlalchemy.exc

        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        except sqlalchemy.exc.DBAPIError:
            connection.invalidate()  # the server ended the session, and the lock with it
        finally:
            connection.close()


class FileStudyLock:
    """An exclusive lock (``filelock``: ``flock`` on POSIX) on a file beside a SQLite database (all its
    workers share one machine)."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self.path = path
        self._lock = FileLock(path, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        self.release()
        self._lock.acquire()

    def intact(self) -> bool:
        """An ``flock`` is held until released or until this process ends."""
        return self._lock.is_locked

    def release(self) -> None:
        self._lock.release(force=True)


class NoStudyLock:
    """No lock: in-memory SQLite (one process) and databases other than PostgreSQL and SQLite."""

    held = False

    def acquire(self) -> None:
        """Nothing to wait for."""

    def release(self) -> None:
        """Nothing to release."""

    def intact(self) -> bool:
        """Nothing that could have been lost (and nothing that excludes other workers either)."""
        return True


def study_lock(storage: Any, study_id: int, database_url: str | None = None) -> StudyLock:
    """The lock every worker of study ``study_id`` takes around decisions that must not interleave
    (admitting a trial against the study's budget): a PostgreSQL advisory lock, an ``flock`` on
    ``<database>.lock`` for a SQLite file, otherwise no lock (budgets are then exact only for one
    worker).

    Through the gRPC proxy, which carries no lock, the advisory lock is taken on ``database_url`` (the
    study file's PostgreSQL database, the one the proxy serves) with a connection opened for each
    acquisition and closed at release, so proxied workers hold no database connection between trials.
    Workers on the database directly and through the proxy then exclude each other as well."""
    if not isinstance(storage, RDBStorage):
        if database_url is not None and database_url.startswith("postgresql"):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            connect_args = {
                **engine_kwargs(database_url)["connect_args"],
                "application_name": LOCK_APPLICATION,
            }
            engine = sqlalchemy.create_engine(database_url, poolclass=NullPool, connect_args=connect_args)
            return PostgresStudyLock(engine, study_id, RetryPolicy())
        log.warning(
            "no study lock through the storage proxy without a PostgreSQL storage in the study file: "
            "concurrent workers may finish up to one trial each beyond the budget"
        )
        return NoStudyLock()
    dialect = storage.engine.dialect.name
    if dialect == "postgresql":
        policy = storage.retry_policy if isinstance(storage, ResilientRDBStorage) else RetryPolicy()
        return PostgresStudyLock(storage.engine, study_id, policy)
    database = sqlite_database(storage.url)
    if dialect == "sqlite" and database is not None:
        return FileStudyLock(database.with_name(database.name + ".lock"))
    return NoStudyLock()
