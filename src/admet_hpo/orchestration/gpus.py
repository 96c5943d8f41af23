"""GPUs of one machine shared out among its worker processes (``hpo run --workers K``).

Worker ``i`` with ``g`` GPUs per worker sees the machine's devices ``i*g, i*g + 1, ..., i*g + g - 1``
(modulo the number of devices, so with more workers than GPUs they share round-robin) through
``CUDA_VISIBLE_DEVICES``; inside the worker they are ``cuda:0 ...``, and ``accelerator: auto`` picks them.
The machine's devices are those of ``CUDA_VISIBLE_DEVICES`` when the launcher itself was given a subset,
else ``0 .. n-1`` with ``n = torch.cuda.device_count()``; :data:`GPU_COUNT_ENV` overrides ``n`` (to try
out an assignment, and in tests on machines without a GPU).
"""

from __future__ import annotations

from collections.abc import Mapping

from admet_hpo.errors import ConfigError
from admet_hpo.tracking.keys import VISIBLE_DEVICES_ATTR

#: Number of GPUs the launcher assumes instead of asking torch.
GPU_COUNT_ENV = "ADMET_HPO_GPUS"
CUDA_VISIBLE = "CUDA_VISIBLE_DEVICES"
#: Trial user attribute: the ``CUDA_VISIBLE_DEVICES`` of the worker that ran the trial.


def machine_gpus(environ: Mapping[str, str]) -> list[str]:
    """The GPU ids this launcher may hand out (strings, as ``CUDA_VISIBLE_DEVICES`` lists them)."""
    override = environ.get(GPU_COUNT_ENV)
    if override is not None:
        if not override.strip().isdigit():
            raise ConfigError(f"${GPU_COUNT_ENV}={override!r}: expected a number of GPUs, e.g. 2")
        count = int(override)
    else:
        import torch

        count = torch.cuda.device_count()
    visible = environ.get(CUDA_VISIBLE)
    if visible is not None and override is None:
        return [device.strip() for device in visible.split(",") if device.strip()][:count]
    return [str(index) for index in range(count)]


def assign_gpus(workers: int, gpus_per_worker: int | None, devices: list[str]) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each of ``workers`` workers (None: leave it unset).

    ``gpus_per_worker`` None means one GPU per worker when the machine has any, none otherwise; 0 means
    no GPU (``CUDA_VISIBLE_DEVICES`` empty, so a worker never takes a GPU by accident). Asking for more
    GPUs per worker than the machine has is a :class:`ConfigError`.
    """
    if gpus_per_worker is None:
        gpus_per_worker = 1 if devices else 0
    if gpus_per_worker == 0:
        return [""] * workers if devices else [None] * workers
    if gpus_per_worker > len(devices):
        raise ConfigError(
            f"--gpus-per-worker {gpus_per_worker}: this machine has {len(devices)} GPU(s)"
            + (f" ({CUDA_VISIBLE}={','.join(devices)})" if devices else "")
        )
    return [
        ",".join(devices[(worker * gpus_per_worker + j) % len(devices)] for j in range(gpus_per_worker))
        for worker in range(workers)
    ]


def gpu_trial_attrs(environ: Mapping[str, str]) -> dict[str, object]:
    """The trial attribute recording which GPUs this worker was given (empty when it was given none)."""
    visible = environ.get(CUDA_VISIBLE)
    return {} if visible is None else {VISIBLE_DEVICES_ATTR: visible}
