"""Serving a study's Optuna storage with optuna-dashboard (``hpo dashboard``).

How the dashboard is launched, and why: as a child process running the ``optuna-dashboard`` console
script installed beside this interpreter (``Path(sys.executable).with_name("optuna-dashboard")``), not
in-process through ``optuna_dashboard.run_server``:

- it is exactly the dashboard people start by hand (``optuna-dashboard <storage>``), with its server
  choice: gunicorn when installed (threaded, made for real use) or a threaded wsgiref server, whereas
  ``run_server`` always uses bottle's single-threaded development server;
- a child process is started, health-checked, stopped and waited for as one unit, so ``hpo dashboard``
  reports a dashboard that fails to start and never leaves one running after Ctrl-C or SIGTERM;
- the dashboard's own imports, threads and crashes stay out of the ``hpo`` process.

The storage URL may carry a password, and any user of the machine can read a process's command line, so
the URL never goes on the child's command line: it is written to a private TOML file (directory 0700,
file 0600) passed with ``--from-config`` and deleted as soon as the dashboard answers.

Only SQLAlchemy (RDB) storage URLs are served, the storage ``hpo run`` writes. A storage must already
exist: a missing SQLite file is reported, never created (opening one with SQLAlchemy would create it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from admet_hpo.config.locations import require_sqlite_file
from admet_hpo.errors import AdmetHpoError, ConfigError
from admet_hpo.masking import mask_text, mask_url

Server = Literal["auto", "wsgiref", "gunicorn"]

#: Seconds ``running_dashboard`` waits for the dashboard to answer, and for it to exit once stopped.
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.2
_WILDCARD_PROBES = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class DashboardError(AdmetHpoError):
    """optuna-dashboard is missing, could not start, or did not answer in time."""


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the dashboard reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dashboard_url(host: str, port: int, study_id: int | None = None) -> str:
    """The dashboard's address for a browser, on a study's page when ``study_id`` is given."""
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    base = f"http://{shown}:{port}/dashboard"
    return base if study_id is None else f"{base}/studies/{study_id}"


def dashboard_executable() -> Path:
    """The ``optuna-dashboard`` console script of this interpreter's environment."""
    executable = Path(sys.executable).with_name("optuna-dashboard")
    if not executable.is_file():
        raise DashboardError(
            f"{executable} not found: optuna-dashboard is not installed in the environment of "
            f"{sys.executable} (it is a dependency of admet-hpo; reinstall the package)"
        )
    return executable


def dashboard_command_line(config_file: Path, host: str, port: int, server: Server = "auto") -> list[str]:
    """The command that starts optuna-dashboard on the storage named in ``config_file`` (see
    :func:`write_dashboard_config`), listening on ``host:port`` with ``server`` (``auto`` = gunicorn if
    installed, else wsgiref)."""
    return [
        str(dashboard_executable()),
        "--from-config",
        str(config_file),
        "--host",
        host,
        "--port",
        str(port),
        "--server",
        server,
    ]


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string (backslash, quote and control characters escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped)
    return f'"{escaped}"'


def write_dashboard_config(storage: str, directory: Path) -> Path:
    """Write an optuna-dashboard TOML config naming ``storage`` into ``directory``, readable by the
    current user only; return its path."""
    path = Path(directory) / "optuna-dashboard.toml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(f"[optuna_dashboard]\nstorage = {_toml_string(storage)}\n")
    return path


def storage_studies(storage: str) -> dict[str, int]:
    """The studies in an existing Optuna RDB storage: name -> the study id the dashboard's pages use.

    Raises :class:`ConfigError` (password masked) when ``storage`` is not a SQLAlchemy URL, names an
    in-memory or missing SQLite database (nothing is created), cannot be reached, or holds no Optuna
    tables. Nothing is written to the storage.
    """
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RDBStorage
    from sqlalchemy.engine import make_url

    shown = mask_url(storage)
    try:
        url = make_url(storage)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise ConfigError(
            f"storage {shown}: not a database URL (expected e.g. sqlite:////abs/path/optuna.db or "
            "postgresql+psycopg://user:password@host/db)"
        ) from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ConfigError(f"storage {shown}: an in-memory SQLite database holds no studies to show")
        require_sqlite_file(
            storage,
            "run 'hpo run STUDY.yaml' first, or check the path; a relative sqlite:/// path is relative to "
            "the working directory",
        )
    try:
        rdb = RDBStorage(storage, skip_compatibility_check=True, skip_table_creation=True)
        try:
            return {
                study.study_name: rdb.get_study_id_from_name(study.study_name)
                for study in rdb.get_all_studies()
            }
        finally:
            rdb.engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, ImportError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"storage {shown}: cannot be read as an Optuna storage: {mask_text(reason)}"
        ) from None


def ensure_port_free(host: str, port: int) -> None:
    """Raise :class:`ConfigError` when ``host:port`` cannot be bound (in use, or not an address here)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host} port {port}: {exc.strerror} (choose --port)"
            ) from None


def _answers(host: str, port: int) -> bool:
    probe_host = _WILDCARD_PROBES.get(host, host)
    url = dashboard_url(probe_host, port).removesuffix("/dashboard") + "/api/meta"
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the dashboard's process group (gunicorn runs workers): SIGTERM, then SIGKILL if needed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running_dashboard(
    storage: str,
    host: str,
    port: int,
    server: Server = "auto",
    *,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run optuna-dashboard on ``storage`` at ``host:port`` while the ``with`` block runs.

    Yields the dashboard's process once ``/api/meta`` answers; its output goes to this process's
    stdout/stderr. On leaving the block (normally, by an exception or by KeyboardInterrupt) the dashboard
    is stopped and waited for. Raises :class:`DashboardError` when the dashboard exits before answering
    or does not answer within ``startup_timeout`` seconds. The child runs in its own session, so a
    terminal's Ctrl-C reaches this process, which then stops the child.
    """
    config_dir = Path(tempfile.mkdtemp(prefix="hpo-dashboard-"))
    try:
        command = dashboard_command_line(write_dashboard_config(storage, config_dir), host, port, server)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _answers(host, port):
                if process.poll() is not None:
                    raise DashboardError(
                        f"optuna-dashboard exited with status {process.returncode} before serving "
                        f"(its messages are above)"
                    )
                if time.monotonic() > deadline:
                    raise DashboardError(f"optuna-dashboard did not answer within {startup_timeout:g} s")
                time.sleep(_POLL_INTERVAL_S)
            shutil.rmtree(config_dir, ignore_errors=True)
            yield process
        finally:
            _stop(process)
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
