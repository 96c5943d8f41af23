"""Shared rich consoles and the user-error boundary of every command."""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Iterator
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from admet_hpo.errors import AdmetHpoError, describe_os_error

console = Console()
error_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def print_error(message: str) -> None:
    """``error: message`` on stderr, credentials in URLs masked."""
    from admet_hpo.masking import mask_text

    error_console.print(f"[bold red]error:[/] {escape(mask_text(message))}", highlight=False, soft_wrap=True)


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """The error boundary of a command: an :class:`AdmetHpoError`, or an :class:`OSError` on a path
    (an output folder under a file or read-only, a missing folder, ...), is printed as
    one line ``error: ...`` on stderr (the path and the system's reason, see
    :func:`~admet_hpo.errors.describe_os_error`) and exits with status 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except AdmetHpoError as exc:
            print_error(str(exc))
        except OSError as exc:
            if exc.filename is None:
                raise
            print_error(describe_os_error(exc))
        raise typer.Exit(code=2)

    return wrapper


def exit_all_trials_failed(ran: int, what: str) -> NoReturn:
    """Say that all ``ran`` trials of ``what`` (this invocation, a night) failed and exit with status 1."""
    error_console.print(
        f"[bold red]error:[/] all {ran} trial(s) of {what} failed; their errors are in 'hpo status' "
        "(column error) and in their MLflow runs",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=1)


def quiet_libraries(*, trains: bool = True) -> None:
    """Keep Lightning's and Optuna's INFO chatter and known deprecation noise off the terminal, and
    Optuna's traceback of a trial interrupted by Ctrl-C (the command prints one line instead).

    ``trains=False`` (a process that only launches workers) leaves Lightning out: quieting it means
    importing it first (about 5 s on 2 cores), which would delay every worker's start."""
    import os
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is first imported
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # read at each download
    if trains:
        import lightning.pytorch  # noqa: F401 - it sets its loggers to INFO on import: import first
    import optuna
    from optuna.exceptions import ExperimentalWarning

    optuna.logging.set_verbosity(logging.WARNING)  # Optuna sets INFO when its logging is first configured
    for name in ("lightning.pytorch", "lightning.fabric", "mlflow") if trains else ("mlflow",):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(_INTERRUPTED_TRIAL_FILTER)

    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # heartbeat API, by choice
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
    from admet_hpo.masking import add_secret_masking

    add_secret_masking()


class _InterruptedTrialFilter(logging.Filter):
    """Drops Optuna's report of a trial stopped by Ctrl-C: the warning with the interruption's traceback
    and the "failed with value None" line Optuna logs right after it. The command says it in one line."""

    def __init__(self) -> None:
        super().__init__()
        self._after_interruption = False

    def filter(self, record: logging.LogRecord) -> bool:
        if _reports_interruption(record):
            self._after_interruption = True
            return False
        follows, self._after_interruption = self._after_interruption, False
        return not (follows and record.getMessage().endswith("failed with value None."))


def _reports_interruption(record: logging.LogRecord) -> bool:
    """Whether ``record`` carries a KeyboardInterrupt: its exception, or, once the secret masking has
    rendered the traceback into ``exc_text`` (and dropped ``exc_info``), that traceback's last line."""
    if record.exc_info:
        return isinstance(record.exc_info[1], KeyboardInterrupt)
    last = (record.exc_text or "").rstrip().rsplit("\n", 1)[-1]
    return last == "KeyboardInterrupt" or last.startswith("KeyboardInterrupt:")


_INTERRUPTED_TRIAL_FILTER = _InterruptedTrialFilter()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise KeyboardInterrupt.

    ``docker stop``, systemd and Kubernetes send SIGTERM: treated as Ctrl-C, the running trial is marked
    FAIL and its MLflow run closed instead of waiting for the heartbeat grace period; a dashboard child
    is stopped. SIGINT is included because a shell script's background jobs start with it ignored.
    """
    stop = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, _raise_keyboard_interrupt) for number in stop}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
