"""Per-epoch random generators: explicit PCG64 streams derived from (seed, epoch) only."""

from __future__ import annotations

import numpy as np


def epoch_seed(seed: int, epoch: int, increment_seed_per_epoch: bool) -> int:
    """``seed + epoch`` when ``increment_seed_per_epoch`` (SPEC 2.3), else ``seed``."""
    return int(seed) + int(epoch) if increment_seed_per_epoch else int(seed)


def epoch_generators(
    seed: int, epoch: int, increment_seed_per_epoch: bool, count: int
) -> list[np.random.Generator]:
    """``count`` independent PCG64 generators for one epoch, identical on every machine and rank.

    Each stage of an epoch's draw uses its own stream and consumes it batch by batch, so drawing more
    batches (padding for more ranks) never changes the earlier ones.
    """
    entropy = epoch_seed(seed, epoch, increment_seed_per_epoch) % 2**64
    children = np.random.SeedSequence(entropy).spawn(count)
    return [np.random.Generator(np.random.PCG64(child)) for child in children]
