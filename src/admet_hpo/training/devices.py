"""Which devices one training uses, checked against this machine before Lightning sees them, and how
the Lightning trainer is set up for them: one process, or DDP over ``trainer.devices`` processes.

Bounds. ``trainer.devices`` counts processes on the chosen accelerator: on CPU at most the cores this
process may run on (its affinity mask), on CUDA at most ``torch.cuda.device_count()`` (the GPUs of
``CUDA_VISIBLE_DEVICES``). ``accelerator: auto`` is CUDA when a GPU is visible, else CPU. A count beyond
the machine, a GPU accelerator without a GPU, or an unreadable value is a :class:`ConfigError` naming the
key, so a typo never forks hundreds of processes.

Cluster environment. One process: Lightning's plain environment, except inside a SLURM job step, whose
environment Lightning honours. Outside SLURM job steps Lightning would warn on every fit that ``srun``
exists but is unused (its checkpoint connector looks for SLURM whatever the environment): we do not use
srun there on purpose, so that one warning is filtered.

Several processes: DDP with ``find_unused_parameters`` (chemprop's MPNN can have parameters that a
batch does not reach, which plain DDP rejects), gloo on CPU and NCCL on CUDA, over
processes this module forks itself (see :class:`RankProcesses`), never by re-running the command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
import warnings
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from admet_hpo.errors import ConfigError

if TYPE_CHECKING:
    from admet_hpo.config.training import TrainerConfig

#: How long a rank waits for the others in one collective before failing (a peer died or hangs).
COLLECTIVE_TIMEOUT = timedelta(minutes=5)
#: Lightning's warning (a regular expression) when ``srun`` is on PATH but the process is no SLURM step.
UNUSED_SRUN_WARNING = r"The `srun` command is available on your system but is not used"
_RANK_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK", "RANK")


@dataclass(frozen=True)
class DevicePlan:
    """The resolved ``trainer.accelerator`` (``cpu`` or ``cuda``) and ``trainer.devices`` of a training:
    ``devices`` is what Lightning gets (a count, or a list of GPU indices), ``world_size`` the number of
    training processes."""

    accelerator: str
    devices: int | list[int]
    world_size: int

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask: a SLURM, container or taskset allocation)."""
    return len(os.sched_getaffinity(0))


def visible_gpus() -> int:
    """CUDA devices torch sees (those of ``CUDA_VISIBLE_DEVICES``)."""
    import torch

    return torch.cuda.device_count()


def plan_devices(trainer: TrainerConfig, *, cpus: int | None = None, gpus: int | None = None) -> DevicePlan:
    """Resolve and bound ``trainer.accelerator`` / ``trainer.devices`` on this machine (``cpus``,
    ``gpus``: the machine's counts, default :func:`usable_cpus` / :func:`visible_gpus`).

    ``devices`` is a positive count, ``auto`` (every GPU; one process on CPU, as in Lightning), ``-1``
    (every GPU) or a list of GPU indices such as ``"0,1"``."""
    gpus = visible_gpus() if gpus is None else gpus
    cpus = usable_cpus() if cpus is None else cpus
    requested = trainer.accelerator
    accelerator = "cuda" if requested in ("gpu", "cuda") or (requested == "auto" and gpus) else "cpu"
    if accelerator == "cuda" and gpus == 0:
        raise ConfigError(
            f"trainer.accelerator: {requested!r} but this machine has no visible GPU "
            "(torch.cuda.device_count() = 0); use 'auto' or 'cpu'"
        )
    available, unit = (gpus, "visible GPU(s)") if accelerator == "cuda" else (cpus, "usable CPU core(s)")
    value = trainer.devices
    text = str(value).strip()
    if text in ("auto", "-1") and (accelerator == "cuda" or text == "auto"):
        count = available if accelerator == "cuda" else 1
        return DevicePlan(accelerator, count, count)
    if "," in text and accelerator == "cuda":
        indices = _indices(text)
        if max(indices) >= available:
            raise ConfigError(
                f"trainer.devices: {value!r} names GPU {max(indices)}; this machine has {available} {unit}"
            )
        return DevicePlan(accelerator, indices, len(indices))
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"trainer.devices: {value!r} is not a number of {accelerator.upper()} processes: expected a "
            "positive number, 'auto'" + (", -1 or GPU indices like '0,1'" if accelerator == "cuda" else "")
        )
    if int(text) > available:
        raise ConfigError(
            f"trainer.devices: {value!r} exceeds this machine: it has {available} {unit} for accelerator "
            f"{requested!r}; use at most {available}"
        )
    return DevicePlan(accelerator, int(text), int(text))


def _indices(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts) or len(set(parts)) != len(parts):
        raise ConfigError(f"trainer.devices: {text!r} is not a list of distinct GPU indices like '0,1'")
    return [int(part) for part in parts]


def in_slurm_step() -> bool:
    """Whether this process runs as a SLURM job step (an sbatch batch script or srun), where Lightning's
    SLURM environment applies; SLURM's documented exception is a job named ``bash`` or ``interactive``."""
    return "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def trainer_arguments(plan: DevicePlan) -> dict[str, Any]:
    """``accelerator``, ``devices``, ``strategy`` and ``plugins`` for ``lightning.pytorch.Trainer``."""
    from lightning.pytorch.plugins.environments import LightningEnvironment

    arguments: dict[str, Any] = {"accelerator": plan.accelerator, "devices": plan.devices}
    slurm = in_slurm_step()
    if not slurm:
        warnings.filterwarnings("ignore", message=UNUSED_SRUN_WARNING)
    if not plan.distributed:
        arguments["plugins"] = [] if slurm else [LightningEnvironment()]
        return arguments
    from lightning.pytorch.strategies import DDPStrategy

    arguments["strategy"] = DDPStrategy(
        cluster_environment=LightningEnvironment(),
        find_unused_parameters=True,
        process_group_backend="nccl" if plan.accelerator == "cuda" else "gloo",
        timeout=COLLECTIVE_TIMEOUT,
    )
    return arguments


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RankProcesses:
    """The processes of one DDP training on this machine: this process is rank 0, and entering forks
    ranks ``1 .. world_size - 1`` from it (torchrun's environment variables tell Lightning the ranks, so
    it launches nothing itself). ``with RankProcesses(n) as rank:`` runs the block in every rank (with
    ``n = 1`` it is just this process, rank 0, and the environment is left alone).

    A forked rank runs the block and then ends at once (``os._exit``; exit status 1 and its traceback on
    stderr if the block raised): it never returns into the caller, so nothing it inherited (storage and
    MLflow connections, the caller's error handling) ever acts twice. Rank 0 leaves the block after its
    own part; if it raised (an error, a pruned trial, Ctrl-C) the other ranks are killed, since they would
    wait for it forever; otherwise it waits for them and raises if one failed. The process group is
    destroyed on the way out, so the next training in this process starts a fresh one. A rank 0 killed
    outright (SIGKILL) cannot stop the others: they fail at their next collective's timeout
    (:data:`COLLECTIVE_TIMEOUT`).
    """

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.rank = 0
        self._children: list[int] = []
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> int:
        if self.world_size == 1:
            return 0
        self._saved_env = {name: os.environ.get(name) for name in _RANK_VARIABLES}
        shared = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
        shared |= {"WORLD_SIZE": str(self.world_size), "NODE_RANK": "0"}
        os.environ.update(shared)
        sys.stdout.flush()
        sys.stderr.flush()
        for rank in range(1, self.world_size):
            pid = os.fork()
            if pid == 0:
                self.rank, self._children = rank, []
                break
            self._children.append(pid)
        os.environ.update({"LOCAL_RANK": str(self.rank), "RANK": str(self.rank)})
        return self.rank

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.world_size == 1:
            return
        if self.rank != 0:
            if error is not None:
                traceback.print_exception(kind, error, trace)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0 if error is None else 1)
        try:
            if error is not None:
                for pid in self._children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            failed = [
                rank
                for rank, pid in enumerate(self._children, start=1)
                if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
            ]
        finally:
            self._children = []
            self._finish()
        if failed and error is None:
            raise RuntimeError(f"DDP rank(s) {failed} of {self.world_size} failed (their errors are above)")

    def _finish(self) -> None:
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
