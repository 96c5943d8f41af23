"""The one reading of SQLite URLs (study storage, tracking store, dashboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from admet_hpo.config.locations import absolute_sqlite_url, require_sqlite_file, sqlite_database
from admet_hpo.errors import ConfigError


def test_relative_sqlite_files_become_absolute_with_driver_and_query_kept(tmp_path: Path) -> None:
    url = absolute_sqlite_url("sqlite+pysqlite:///sub/optuna.db?timeout=5", tmp_path)
    assert url == f"sqlite+pysqlite:///{tmp_path / 'sub' / 'optuna.db'}?timeout=5"
    assert sqlite_database(url) == tmp_path / "sub" / "optuna.db"


def test_text_that_is_no_database_url_names_no_sqlite_file() -> None:
    assert sqlite_database("not a url") is None
    assert sqlite_database("grpc://127.0.0.1:13000") is None


def test_a_missing_sqlite_file_is_a_config_error_that_creates_nothing(tmp_path: Path) -> None:
    database = tmp_path / "absent" / "optuna.db"
    with pytest.raises(ConfigError, match=rf"no study storage at {database} \(run it first\)"):
        require_sqlite_file(f"sqlite:///{database}", "run it first")
    assert not database.parent.exists()
    database.parent.mkdir()
    database.touch()
    require_sqlite_file(f"sqlite:///{database}", "run it first")
    require_sqlite_file("postgresql+psycopg://u@h/db", "never checked")
