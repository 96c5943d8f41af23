"""``hpo run --workers N``: worker processes on this machine, forked from one that imported the stack.

A fresh Python process spends about 10 s (2 cores) importing what a trial needs: chemprop, Lightning,
torch, the MLflow client. :func:`start_fork_server` therefore starts a :mod:`multiprocessing` fork server
at once, whose preload (the modules the caller names: ``admet_hpo.cli.worker_preload``) imports that
stack while the launcher prepares the study (Optuna study, baseline, MLflow store and parent run).
Once the study exists, :meth:`LocalWorkers.start` forks the workers from the server: each begins with
the stack imported, so ``N`` workers pay the imports once, not ``N`` times on the same cores. If
preparing the study fails, no worker is ever started. Where there is no fork server (Windows), workers
are spawned as fresh processes and import the stack themselves.

A worker runs ``target(*args, index)`` (the CLI's worker body) and exits with the status it returns.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_any
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from admet_hpo.orchestration.gpus import CUDA_VISIBLE, assign_gpus, machine_gpus

if TYPE_CHECKING:
    from admet_hpo.orchestration.session import StudySession

#: Seconds a launcher waits for its workers to end after passing on Ctrl-C.
STOP_WAIT_S = 120
THREADS_ENV = "OMP_NUM_THREADS"

#: A worker's body: called with the launcher's arguments and the worker's index; returns the exit status.
WorkerTarget = Callable[..., int]


@dataclass(frozen=True)
class WorkerPlacement:
    """What one worker process is given: its index (offsets the sampler seed), the environment it adds to
    the launcher's (the session's locations, ``OMP_NUM_THREADS``, ``CUDA_VISIBLE_DEVICES``)."""

    index: int
    env: Mapping[str, str]


def torch_threads(env: Mapping[str, str]) -> int | None:
    """The torch thread count ``OMP_NUM_THREADS`` asks for (None when unset or not a positive number in
    ASCII digits: torch then keeps its own default, as it does with such a value in a fresh process)."""
    value = env.get(THREADS_ENV, "").strip()
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def run_placed_worker(placement: WorkerPlacement, target: WorkerTarget, args: tuple[Any, ...]) -> None:
    """The entry point of a worker process: take its placement, run ``target`` and exit with its status.

    A forked worker inherits the fork server's interpreter: Ctrl-C is restored (the server ignores it),
    the environment is updated in place and torch's thread count set explicitly (torch, imported by the
    server, read ``OMP_NUM_THREADS`` before this worker existed). CUDA was never initialised in the
    server (its imports do not touch it), so ``CUDA_VISIBLE_DEVICES`` set here still decides the devices.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.update(placement.env)
    threads = torch_threads(placement.env)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    sys.exit(target(*args, placement.index))


def default_worker_threads(workers: int) -> int:
    """Torch threads of each of ``workers`` workers when ``OMP_NUM_THREADS`` is unset: ``cores //
    workers``, at least one."""
    return max(1, (os.cpu_count() or 1) // workers)


def placements(session: StudySession, workers: int, gpus_per_worker: int | None) -> list[WorkerPlacement]:
    """Each worker's placement: the session's locations (so it resolves the same storage, tracking store
    and output folder: :func:`~admet_hpo.orchestration.session.location_environment`), a share of the
    cores, and its GPUs.

    Unless ``OMP_NUM_THREADS`` is set, each worker gets :func:`default_worker_threads` torch threads;
    torch's default of one thread per core in every worker oversubscribes the cores, which slowed trials
    several-fold in ``benchmarks/storage_overhead.py``. Workers share the GPUs round-robin,
    ``gpus_per_worker`` each through ``CUDA_VISIBLE_DEVICES`` (None: one each when there are GPUs; see
    :func:`admet_hpo.orchestration.gpus.assign_gpus`).
    """
    from admet_hpo.orchestration.session import location_environment

    env = dict(location_environment(session.study))
    env[THREADS_ENV] = os.environ.get(THREADS_ENV) or str(default_worker_threads(workers))
    visible = assign_gpus(workers, gpus_per_worker, machine_gpus(os.environ))
    return [
        WorkerPlacement(i, env if visible[i] is None else {**env, CUDA_VISIBLE: str(visible[i])})
        for i in range(workers)
    ]


class LocalWorkers:
    """Worker processes of one launcher: placed by :func:`prepare_workers`, forked by :meth:`start`."""

    def __init__(
        self,
        context: BaseContext,
        placed: list[WorkerPlacement],
        target: WorkerTarget,
        args: tuple[Any, ...],
    ) -> None:
        self.context = context
        self.placed = placed
        self.target = target
        self.args = args
        self.processes: list[BaseProcess] = []

    def start(self) -> None:
        """Start every worker (forked from the fork server once its imports are done)."""
        for placement in self.placed:
            process = self.context.Process(  # type: ignore[attr-defined]
                target=run_placed_worker,
                args=(placement, self.target, self.args),
                name=f"hpo-worker-{placement.index}",
            )
            process.start()
            self.processes.append(process)

    def wait(self, poll: Callable[[], None] | None = None, poll_seconds: float = 2.0) -> list[int]:
        """Wait for every worker to end and return their exit codes (negative: ended by that signal);
        ``poll`` is called every ``poll_seconds`` meanwhile (the live display reads the storage). Ctrl-C
        is passed on to the workers, which fail their running trial cleanly, and re-raised once they
        have ended."""
        try:
            while running := [p.sentinel for p in self.processes if p.is_alive()]:
                if poll is not None:
                    poll()
                wait_for_any(running, timeout=poll_seconds)
        except KeyboardInterrupt:
            for process in self.processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGINT)
            deadline = time.monotonic() + STOP_WAIT_S
            for process in self.processes:
                process.join(timeout=max(0.0, deadline - time.monotonic()))
            raise
        return [int(p.exitcode) for p in self.processes]  # type: ignore[arg-type]  # all have ended


def start_fork_server(preload: Sequence[str]) -> BaseContext:
    """The workers' context: a fork server that imports the modules ``preload`` before it forks anything,
    started now, where the platform has one; else spawn. It returns at once; the server imports (the
    training stack: about 10 s on 2 cores), then serves forks. There is at most one per process: once it
    runs, a later call finds it running and its ``preload`` changes nothing. A launcher calls it as early
    as it knows it will have workers, so the imports overlap its own start-up."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    forkserver.ensure_running()
    return context


def prepare_workers(
    session: StudySession,
    workers: int,
    context: BaseContext,
    target: WorkerTarget,
    args: tuple[Any, ...],
    *,
    gpus_per_worker: int | None = None,
) -> LocalWorkers:
    """Place ``workers`` workers that will run ``target(*args, index)`` in ``context`` (from
    :func:`start_fork_server`); :meth:`LocalWorkers.start` forks them. A bad GPU request
    (:func:`assign_gpus`) is refused here, before any worker starts."""
    return LocalWorkers(context, placements(session, workers, gpus_per_worker), target, args)
