"""gRPC storage URLs, the proxy client's errors and the budget lock of proxied workers."""

from __future__ import annotations

import logging
import socket

import pytest

from admet_hpo.errors import ConfigError
from admet_hpo.storage.proxy import serve_storage
from admet_hpo.storage.rdb import NoStudyLock, PostgresStudyLock, grpc_address, open_storage, study_lock


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("grpc://127.0.0.1:13000", ("127.0.0.1", 13000)),
        ("grpc://storage-proxy:80/", ("storage-proxy", 80)),
        ("grpc://[::1]:13000", ("::1", 13000)),
        ("postgresql+psycopg://u@db/x", None),
        ("sqlite:///optuna.db", None),
    ],
)
def test_grpc_addresses_are_read_from_the_url(url: str, address: tuple[str, int] | None) -> None:
    assert grpc_address(url) == address


@pytest.mark.parametrize("url", ["grpc://host", "grpc://host:port", "grpc://:13000", "grpc://h:99999"])
def test_a_malformed_grpc_url_is_named(url: str) -> None:
    with pytest.raises(ConfigError, match=r"expected grpc://HOST:PORT"):
        grpc_address(url)


def test_a_proxy_that_does_not_answer_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"no storage proxy answers at grpc://127.0.0.1:{port} within"):
        open_storage(f"grpc://127.0.0.1:{port}")


class _Proxied:
    """Stands for a proxy client: any storage that is not an RDB storage."""


def test_proxied_workers_lock_on_the_study_files_postgresql_else_warn(caplog) -> None:
    lock = study_lock(_Proxied(), 3, "postgresql+psycopg://u:p@db.invalid:5432/optuna")
    assert isinstance(lock, PostgresStudyLock) and not lock.held  # connects only when acquired
    with caplog.at_level(logging.WARNING):
        assert isinstance(study_lock(_Proxied(), 3, "grpc://proxy:13000"), NoStudyLock)
    assert "up to one trial each beyond the budget" in caplog.text


def test_the_proxy_refuses_to_proxy_a_proxy() -> None:
    with pytest.raises(ConfigError, match="the proxy needs the database itself"):
        serve_storage("grpc://127.0.0.1:13000", pytest.fail, "127.0.0.1", 13001)


def test_the_proxy_names_an_address_it_cannot_listen_on(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"cannot serve sqlite:///.*optuna.db on 127.0.0.1:{port}"):
            url = f"sqlite:///{tmp_path}/optuna.db"
            serve_storage(url, lambda: open_storage(url), "127.0.0.1", port)
