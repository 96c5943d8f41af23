"""Per-epoch random generators (SPEC 2.7.4): explicit PCG64 streams derived from (seed, epoch) only."""

from __future__ import annotations

import numpy as np


def epoch_entropy(seed: int, epoch: int, increment_seed_per_epoch: bool) -> list[int]:
    """The epoch's seed material: ``[seed, epoch]``, or ``[seed]`` without the per-epoch increment.

    Negative seeds are taken modulo 2**64 (numpy seeds are non-negative). Distinct ``(seed, epoch)``
    pairs give distinct material, so no two of them share a stream (``seed + epoch`` did: seed s at
    epoch e + 1 drew what seed s + 1 drew at epoch e).
    """
    base = int(seed) % 2**64
    if not increment_seed_per_epoch:
        return [base]
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    return [base, int(epoch)]


def epoch_generators(
    seed: int, epoch: int, increment_seed_per_epoch: bool, count: int
) -> list[np.random.Generator]:
    """``count`` independent generators for one epoch, identical on every machine and rank.

    They are the children spawned by ``numpy.random.default_rng(epoch_entropy(...))``; each stage of an
    epoch's draw uses its own child, so the stages never disturb each other's numbers.
    """
    return np.random.default_rng(epoch_entropy(seed, epoch, increment_seed_per_epoch)).spawn(count)
