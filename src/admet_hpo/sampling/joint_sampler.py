"""Per-row sampler over the joint weights (SPEC 2.3, 2.5)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling.allocation import systematic_counts
from admet_hpo.sampling.seeding import epoch_generators
from admet_hpo.sampling.statistics import WeightStatistics
from admet_hpo.sampling.weighting import JointWeighting


def positive_class_masses(weighting: JointWeighting) -> np.ndarray:
    """Total weight of each weight class now; raises when no labelled row has a positive weight."""
    masses = weighting.layout.sizes * weighting.class_weights()
    if not masses.sum() > 0:
        phase = f" in curriculum phase {weighting.curriculum.phase!r}" if weighting.curriculum else ""
        raise DataValidationError(f"no labelled training row has a positive sampling weight{phase}")
    return masses


def draw_joint_indices(
    weighting: JointWeighting, count: int, class_rng: np.random.Generator, row_rng: np.random.Generator
) -> np.ndarray:
    """``count`` row indices drawn by the joint weights, low-variance (SPEC 2.7.2).

    Row i is drawn the floor or the ceiling of its expected count ``count * w_joint[i]`` times, and
    exactly that count on average: each weight class gets the floor or ceiling of its expected share of
    the draws (systematic sampling over the classes, ``class_rng``); a class drawn ``m`` times draws
    each of its ``n`` rows ``m // n`` times and a uniformly random ``m % n`` of them once more
    (``row_rng``); the whole draw is then shuffled (``row_rng``). With uniform weights and ``count`` =
    the labelled rows this is one random permutation of them (a plain shuffle), whether task
    oversampling is off or on with alpha = 0.
    """
    layout = weighting.layout
    masses = positive_class_masses(weighting)
    expected = count * masses / masses.sum()
    class_counts = systematic_counts(
        expected, np.array([0, masses.size]), np.array([count]), class_rng.random(1)
    )
    base, extra = np.divmod(class_counts, layout.sizes)
    row_counts = np.repeat(base, layout.sizes)
    for k in np.flatnonzero(extra).tolist():
        row_counts[layout.starts[k] + row_rng.choice(layout.sizes[k], extra[k], replace=False)] += 1
    draws = np.repeat(layout.rows, row_counts)
    row_rng.shuffle(draws)
    return draws


class JointSampler(Sampler[int]):
    """Draws ``num_samples`` training-row indices per epoch by ``w_joint = w_task * w_quality``.

    Args:
        weighting: the rows' joint weighting (task oversampling and/or curriculum, or neither).
        num_samples: indices per epoch; default the number of labelled rows, so an epoch has as many
            draws as a plain pass over the labelled data.
        seed: base seed; the epoch's generator is ``default_rng([seed, epoch])`` when
            ``increment_seed_per_epoch``, else ``default_rng([seed])`` (SPEC 2.7.4).
        increment_seed_per_epoch: see ``seed``.

    Row i is drawn ``num_samples * w_joint[i]`` times in expectation and always the floor or the
    ceiling of that (low-variance draws, SPEC 2.7.2), in a random order: with both factors off, or with
    uniform weights, an epoch is one random permutation of the labelled rows (plain shuffle). The
    marginal distribution of each draw is that of
    ``torch.utils.data.WeightedRandomSampler(w_joint, num_samples)``, but the counts do not scatter
    like independent draws, so an epoch covers as many distinct rows as the weights allow. O(N) with
    small constants. Rows without a label are never drawn. The epoch's draws depend only on
    ``(seed, epoch)`` and the curriculum phase current when the epoch is drawn: call :meth:`set_epoch`
    with the trainer's epoch before iterating (a resumed run then draws what an uninterrupted one did).
    """

    def __init__(
        self,
        weighting: JointWeighting,
        num_samples: int | None = None,
        seed: int = 0,
        increment_seed_per_epoch: bool = True,
    ) -> None:
        self.weighting = weighting
        self.num_samples = weighting.n_labelled if num_samples is None else int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.seed = int(seed)
        self.increment_seed_per_epoch = bool(increment_seed_per_epoch)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        yield from self.indices().tolist()

    def indices(self, epoch: int | None = None, num_samples: int | None = None) -> np.ndarray:
        """The draws of ``epoch`` (default: the current one) as an array of row indices."""
        epoch = self.epoch if epoch is None else int(epoch)
        count = self.num_samples if num_samples is None else int(num_samples)
        class_rng, row_rng = epoch_generators(self.seed, epoch, self.increment_seed_per_epoch, 2)
        return draw_joint_indices(self.weighting, count, class_rng, row_rng)

    def probabilities(self) -> np.ndarray:
        """Probability of each row (all N rows) per draw at the curriculum's current phase."""
        return self.weighting.row_weights()

    def statistics(self) -> WeightStatistics:
        """:func:`weight_statistics` of :meth:`probabilities` over the labelled rows."""
        return self.weighting.statistics(self.probabilities())
