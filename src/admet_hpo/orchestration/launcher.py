"""``hpo run --workers N``: worker processes on this machine, started before the study is prepared.

A fresh ``hpo worker`` process spends most of its start-up importing the training stack (chemprop,
Lightning, torch, the MLflow client: about 8 s on 2 cores), and the launcher spends its own in preparing
the study (Optuna study, baseline, MLflow store and parent run). :func:`start_workers` therefore starts
the workers first: each imports what its first trial needs (:func:`preload_training`), then waits for
the launcher's go on its standard input (:func:`wait_for_go`). :meth:`LocalWorkers.go` sends it once the
study exists; :meth:`LocalWorkers.abort` closes their input without it when preparing failed, and the
workers end without touching the study.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from admet_hpo.orchestration.gpus import CUDA_VISIBLE, assign_gpus, machine_gpus

if TYPE_CHECKING:
    from admet_hpo.orchestration.session import StudySession

#: The line a launcher writes to its workers' standard input once the study is prepared.
GO = "go"
#: Seconds a launcher waits for its workers to end after passing on Ctrl-C or aborting.
STOP_WAIT_S = 120


def worker_command(study_file: Path, *, n_trials: int | None, timeout: float | None, index: int) -> list[str]:
    """The ``hpo worker`` command line a launcher starts for worker ``index`` (``--launched``: it waits
    for the launcher's go, and the launcher reports an interruption, in one line, for all its workers)."""
    command = [
        sys.executable,
        "-m",
        "admet_hpo",
        "worker",
        str(study_file),
        "--worker-index",
        str(index),
        "-q",
        "--no-plots",
        "--launched",
    ]
    if n_trials is not None:
        command += ["--n-trials", str(n_trials)]
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    return command


class LocalWorkers:
    """Worker processes started by :func:`start_workers`, waiting for :meth:`go` until it is sent."""

    def __init__(self, processes: list[subprocess.Popen[str]]) -> None:
        self.processes = processes

    def go(self) -> None:
        """Let every worker join the (now prepared) study."""
        self._close_inputs(GO + "\n")

    def abort(self) -> None:
        """End the workers before they join the study (preparing it failed) and wait for them."""
        self._close_inputs("")
        for process in self.processes:
            process.wait(timeout=STOP_WAIT_S)

    def wait(self, poll: Callable[[], None] | None = None, poll_seconds: float = 2.0) -> list[int]:
        """Wait for every worker to end and return their exit codes; ``poll`` is called every
        ``poll_seconds`` meanwhile (the live display reads the storage). Ctrl-C is passed on to the
        workers, which fail their running trial cleanly, and re-raised once they have ended."""
        try:
            while any(p.poll() is None for p in self.processes):
                if poll is not None:
                    poll()
                time.sleep(poll_seconds)
        except KeyboardInterrupt:
            for process in self.processes:
                process.send_signal(signal.SIGINT)
            for process in self.processes:
                process.wait(timeout=STOP_WAIT_S)
            raise
        return [p.returncode for p in self.processes]

    def _close_inputs(self, text: str) -> None:
        for process in self.processes:
            stdin: IO[str] | None = process.stdin
            if stdin is None or stdin.closed:
                continue
            try:
                stdin.write(text)
                stdin.close()
            except BrokenPipeError:  # the worker has ended already; its exit code tells why
                pass


def start_workers(
    session: StudySession,
    workers: int,
    *,
    n_trials: int | None,
    timeout: float | None,
    gpus_per_worker: int | None = None,
) -> LocalWorkers:
    """Start ``workers`` ``hpo worker`` processes on this machine; they wait for :meth:`LocalWorkers.go`.

    The workers share the machine's cores: unless ``OMP_NUM_THREADS`` is set, each gets
    ``cores // workers`` torch threads (at least one); torch's default of one thread per core in every
    worker oversubscribes the cores, which slowed trials several-fold in ``benchmarks/storage_overhead.py``.
    They share its GPUs round-robin, ``gpus_per_worker`` each through ``CUDA_VISIBLE_DEVICES`` (None: one
    each when there are GPUs; see :func:`admet_hpo.orchestration.gpus.assign_gpus`). The workers get the
    session's storage, tracking store and output folder through the environment
    (:func:`~admet_hpo.orchestration.session.location_environment`).
    """
    from admet_hpo.orchestration.session import location_environment

    study = session.study
    env = {**os.environ, **location_environment(study)}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    visible = assign_gpus(workers, gpus_per_worker, machine_gpus(env))
    processes = [
        subprocess.Popen(
            worker_command(study.source, n_trials=n_trials, timeout=timeout, index=i),
            env=env if visible[i] is None else {**env, CUDA_VISIBLE: str(visible[i])},
            stdin=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    return LocalWorkers(processes)


def preload_training() -> None:
    """Import what a worker's first trial needs (the training code with chemprop, Lightning and torch;
    the MLflow client), so that a launched worker does it while its launcher prepares the study."""
    import mlflow.tracking  # noqa: F401

    import admet_hpo.training.run  # noqa: F401


def wait_for_go(stdin: IO[str] | None = None) -> bool:
    """Block until the launcher sends :data:`GO` (True) or closes the worker's input without it (False)."""
    line = (stdin or sys.stdin).readline()
    return line.strip() == GO
