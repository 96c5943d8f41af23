"""Per-row sampler over the joint weights (SPEC 2.3, 2.5)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling.categorical import GroupedCategorical
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
    """``count`` row indices drawn by the joint weights.

    Factors off (uniform weights): one random permutation of the labelled rows, repeated cyclically
    when ``count`` exceeds their number. Otherwise independent draws with replacement, row i with
    probability ``w_joint[i]``, computed in two exact stages: a weight class by its total weight, then a
    uniform row inside the class. Draw j uses only the j-th numbers of each stream, so a longer draw
    starts with the shorter one.
    """
    layout = weighting.layout
    if weighting.is_uniform:
        return np.resize(layout.rows[class_rng.permutation(layout.rows.size)], count)
    masses = positive_class_masses(weighting)
    categorical = GroupedCategorical(masses, np.array([0, masses.size]))
    classes = categorical.draw(0, class_rng.random(count))
    sizes = layout.sizes[classes]
    offsets = np.minimum((row_rng.random(count) * sizes).astype(np.int64), sizes - 1)
    return layout.rows[layout.starts[classes] + offsets]


class JointSampler(Sampler[int]):
    """Draws ``num_samples`` training-row indices per epoch by ``w_joint = w_task * w_quality``.

    Args:
        weighting: the rows' joint weighting (task oversampling and/or curriculum, or neither).
        num_samples: indices per epoch; default the number of labelled rows, so an epoch has as many
            draws as a plain pass over the labelled data.
        seed: base seed; the epoch's seed is ``seed + epoch`` when ``increment_seed_per_epoch``.
        increment_seed_per_epoch: see ``seed``.

    With both factors off an epoch is one random permutation of the labelled rows (plain shuffle);
    otherwise draws are independent and with replacement, like
    ``torch.utils.data.WeightedRandomSampler(w_joint, num_samples, replacement=True)`` but O(N) with
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
