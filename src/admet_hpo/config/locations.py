"""SQLite URLs, read one way: SQLAlchemy's :func:`~sqlalchemy.engine.make_url`.

Study storage and MLflow tracking stores are both SQLAlchemy URLs; the study file, the storage, the
tracking store and the dashboard all ask the same questions of them (is it a SQLite file, which one,
does it exist yet), answered here once.
"""

from __future__ import annotations

from pathlib import Path

from admet_hpo.errors import ConfigError


def sqlite_database(url: str) -> Path | None:
    """The database file of a SQLite URL as written (``sqlite:////abs.db`` absolute, ``sqlite:///rel.db``
    relative to the working directory), or None for in-memory SQLite, other back ends and text that is not
    a database URL."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def absolute_sqlite_url(url: str, base_dir: Path) -> str:
    """``url`` with a relative SQLite file made absolute against ``base_dir``; other URLs unchanged.

    SQLAlchemy reads ``sqlite:///rel.db`` relative to the working directory and ``sqlite:////abs.db``
    as absolute; a study must not depend on where it was started, so relative files are resolved.
    """
    from sqlalchemy.engine import make_url

    database = sqlite_database(url)
    if database is None or database.is_absolute():
        return url
    absolute = make_url(url).set(database=str((base_dir / database).resolve()))
    return absolute.render_as_string(hide_password=False)


def require_sqlite_file(url: str, hint: str) -> None:
    """Raise :class:`ConfigError` when ``url`` names a SQLite file that does not exist (commands that
    only read a study must not create an empty one); ``hint`` says what to do, e.g. "run 'hpo run
    STUDY.yaml' first"."""
    database = sqlite_database(url)
    if database is not None and not database.is_file():
        raise ConfigError(f"no study storage at {database.resolve()} ({hint})")
