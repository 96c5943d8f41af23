"""``hpo storage-proxy``: Optuna's gRPC storage proxy in front of a study's database.

Hundreds of workers each holding a few database connections can exhaust a PostgreSQL server; through the
proxy they hold none: they open ``grpc://host:port`` (:func:`admet_hpo.storage.rdb.open_storage`), and
the proxy process serves every storage call over its own small connection pool. Two things stay with the
database: the budget lock (workers take it on the study file's database through a connection opened only
for each admission, see :func:`admet_hpo.storage.rdb.study_lock`) and heartbeats, which Optuna's proxy
does not carry (a worker that dies leaves its trial RUNNING; fail it with ``hpo reap`` on the database).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from optuna.exceptions import ExperimentalWarning

from admet_hpo.errors import ConfigError
from admet_hpo.masking import mask_url
from admet_hpo.storage.rdb import grpc_address

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

#: Threads serving storage calls: concurrent calls beyond this wait in the proxy, not in the database.
SERVER_THREADS = 16


def serve_storage(url: str, open_database: Callable[[], BaseStorage], host: str, port: int) -> None:
    """Serve the database at ``url`` on ``host:port`` until interrupted (KeyboardInterrupt);
    ``open_database`` opens it (the caller's one storage of the process), after ``url`` is checked."""
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages import run_grpc_proxy_server

    if grpc_address(url) is not None:
        raise ConfigError(f"storage {url}: the proxy needs the database itself, not another proxy")
    storage = open_database()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            run_grpc_proxy_server(
                storage, host=host, port=port, thread_pool=ThreadPoolExecutor(max_workers=SERVER_THREADS)
            )
        except RuntimeError as exc:  # grpc cannot bind the address
            raise ConfigError(f"cannot serve {mask_url(url)} on {host}:{port}: {exc}") from None
