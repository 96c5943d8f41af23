"""Batch sampler with experiment-aware, leaky, condition-balanced batches (SPEC 2.4).

Drawing semantics of one epoch (all ranks compute the same sequence from ``(seed, epoch)``):

1. Each batch's experiment is drawn with probability proportional to its size (rows with a positive
   joint weight) or to ``experiment_weights``; experiments without positive joint weight, or whose
   conditions all have ratio 0, are never chosen.
2. The batch's primary part (``batch_size - int(batch_size * leaky)`` rows) is split over the chosen
   experiment's conditions that have positive weight, by ``condition_ratio`` (default equal) with
   largest-remainder rounding (ties go to the condition whose label sorts first); these quotas are the
   same for every batch of that experiment and epoch.
3. Every slot of an (experiment, condition) cell, and every leaked slot (pooled over all other
   experiments), picks a weight class with probability proportional to the class's total joint weight
   within the pool, then takes the next row of that class's epoch stream: the class's rows in a fresh
   random order, cycled when exhausted. So each slot's marginal distribution over the pool is exactly
   proportional to ``w_joint``, a row repeats inside a batch only when its class has fewer rows than the
   batch asks of it (always the case for a cell smaller than its quota: warned once at construction),
   and rows of a class are used as evenly as possible over the epoch.

Without ``experiment_aware`` and ``condition_balanced`` batches are consecutive chunks of the
:class:`~admet_hpo.sampling.joint_sampler.JointSampler` draws (a plain shuffle when both weight factors
are off). ``len(sampler) = ceil((N // batch_size) / num_replicas)`` with N the number of labelled rows;
every rank yields exactly that many batches of exactly ``batch_size`` rows.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling.categorical import GroupedCategorical
from admet_hpo.sampling.curriculum import CurriculumState
from admet_hpo.sampling.grouping import ClassLayout, occurrence_rank
from admet_hpo.sampling.joint_sampler import draw_joint_indices, positive_class_masses
from admet_hpo.sampling.labels import encode_labels
from admet_hpo.sampling.quotas import largest_remainder
from admet_hpo.sampling.seeding import epoch_generators
from admet_hpo.sampling.statistics import WeightStatistics
from admet_hpo.sampling.weighting import JointWeighting

logger = logging.getLogger(__name__)


class SmallCellWarning(UserWarning):
    """Some (experiment, condition) cells hold fewer rows than their per-batch quota."""


@dataclass(frozen=True)
class _EpochPlan:
    """The per-epoch quantities that depend on the curriculum phase (class masses and batch layout)."""

    masses: np.ndarray  # (K,) total joint weight per class
    cell_mass: np.ndarray  # (E, C)
    experiment_mass: np.ndarray  # (E,)
    quotas: np.ndarray  # (E, C) primary-part rows per condition
    choice: np.ndarray  # (E,) probability that a batch is drawn from experiment e


def _named_vector(values: Mapping[str, float] | None, names: list[str], option: str, what: str) -> np.ndarray:
    """``values`` as a vector over ``names``; every name needs a value, unknown keys only warn."""
    if values is None:
        return np.ones(len(names))
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"{option} has no value for {what}(s) {missing}; give one for each of {names}")
    unknown = sorted(set(values) - set(names))
    if unknown:
        logger.warning("%s: %s(s) %s are not in the training rows and are ignored", option, what, unknown)
    vector = np.array([float(values[name]) for name in names])
    if np.any(vector < 0) or not np.all(np.isfinite(vector)):
        raise ValueError(f"{option} values must be finite and >= 0, got {dict(values)}")
    return vector


class FlexibleBatchSampler(Sampler[list[int]]):
    """Yields batches (lists of training-row indices) composed as in SPEC 2.4; see the module docstring.

    Args:
        weighting: joint weighting of the training rows (task oversampling, curriculum, or neither).
        batch_size: rows per batch (every batch has exactly this many).
        experiment: ``(N,)`` experiment labels; required with ``experiment_aware``, otherwise used for
            per-experiment statistics only.
        condition: ``(N,)`` condition labels; required with ``condition_balanced``.
        experiment_aware: draw each batch's primary part from one experiment.
        leaky: share of each batch drawn from the other experiments (``int(batch_size * leaky)`` rows);
            no effect without ``experiment_aware``.
        experiment_weights: experiment choice weights by experiment label (as text); default: size.
        condition_balanced: split the primary part over the experiment's conditions.
        condition_ratio: condition shares by condition label (as text); default equal.
        num_replicas: number of distributed ranks; rank ``r`` yields batches ``r, r + R, ...``.
        rank: this process's rank.
        seed: base seed; the epoch's seed is ``seed + epoch`` when ``increment_seed_per_epoch``.
        increment_seed_per_epoch: see ``seed``.

    Call :meth:`set_epoch` with the trainer's epoch before each epoch (Lightning does this for a
    DataLoader's ``batch_sampler``). The curriculum's phase is read when the epoch's batches are drawn.
    """

    def __init__(
        self,
        weighting: JointWeighting,
        batch_size: int,
        *,
        experiment: np.ndarray | None = None,
        condition: np.ndarray | None = None,
        experiment_aware: bool = False,
        leaky: float = 0.0,
        experiment_weights: Mapping[str, float] | None = None,
        condition_balanced: bool = False,
        condition_ratio: Mapping[str, float] | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        increment_seed_per_epoch: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {rank} of {num_replicas}"
            )
        if not 0.0 <= leaky < 1.0:
            raise ValueError(f"leaky must be in [0, 1), got {leaky}")
        if weighting.n_labelled < batch_size:
            raise DataValidationError(
                f"batch_size {batch_size} exceeds the {weighting.n_labelled} labelled training rows: "
                "no full batch can be drawn; lower the batch size"
            )
        self.weighting = weighting
        self.batch_size = int(batch_size)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.seed = int(seed)
        self.increment_seed_per_epoch = bool(increment_seed_per_epoch)
        self.epoch = 0
        self.num_batches = math.ceil((weighting.n_labelled // self.batch_size) / self.num_replicas)
        self.experiment_aware = bool(experiment_aware)
        self.condition_balanced = bool(condition_balanced)
        self.leak_size = int(self.batch_size * leaky) if self.experiment_aware else 0
        self.primary_size = self.batch_size - self.leak_size
        labelled_rows = np.flatnonzero(weighting.labelled)
        self.experiment_codes, self.experiment_names = self._codes(
            experiment, "experiment", experiment_aware, labelled_rows
        )
        self.condition_codes, self.condition_names = self._codes(
            condition, "condition", condition_balanced, labelled_rows
        )
        self._warn_unused(leaky, experiment_weights, condition_ratio)
        if self.structured:
            self._build_structure(experiment_weights, condition_ratio)

    @property
    def curriculum(self) -> CurriculumState | None:
        """The curriculum whose phase the draws follow (feed it validation losses), or None."""
        return self.weighting.curriculum

    @property
    def structured(self) -> bool:
        """True when batches are experiment-aware or condition-balanced."""
        return self.experiment_aware or self.condition_balanced

    def _codes(
        self, labels: np.ndarray | None, column: str, required: bool, labelled_rows: np.ndarray
    ) -> tuple[np.ndarray | None, list[str]]:
        if labels is None:
            if required:
                raise ValueError(f"{column} labels are required for {column}-structured batches")
            return None, []
        if np.shape(labels) != (self.weighting.n_rows,):
            raise ValueError(f"{column} has shape {np.shape(labels)}, expected ({self.weighting.n_rows},)")
        checked = labelled_rows if required else np.empty(0, dtype=np.int64)
        return encode_labels(labels, column, rows=checked)

    def _warn_unused(
        self,
        leaky: float,
        experiment_weights: Mapping[str, float] | None,
        condition_ratio: Mapping[str, float] | None,
    ) -> None:
        unused = [
            name
            for name, given, active in (
                ("leaky", leaky > 0, self.experiment_aware),
                ("experiment_weights", experiment_weights is not None, self.experiment_aware),
                ("condition_ratio", condition_ratio is not None, self.condition_balanced),
            )
            if given and not active
        ]
        if unused:
            logger.warning("batch options %s have no effect: their batch structure is off", unused)

    def _build_structure(
        self, experiment_weights: Mapping[str, float] | None, condition_ratio: Mapping[str, float] | None
    ) -> None:
        weighting = self.weighting
        zeros = np.zeros(weighting.n_rows, dtype=np.int64)
        experiment = self.experiment_codes if self.experiment_aware else zeros
        condition = self.condition_codes if self.condition_balanced else zeros
        self._n_experiments = len(self.experiment_names) if self.experiment_aware else 1
        self._n_conditions = len(self.condition_names) if self.condition_balanced else 1
        n_cells = self._n_experiments * self._n_conditions
        inner = weighting.layout.n_classes
        inner_class = weighting.layout.class_of_row
        keys = np.where(
            weighting.labelled, (experiment * self._n_conditions + condition) * inner + inner_class, 0
        )
        self.layout = ClassLayout.from_keys(keys, n_cells * inner, weighting.labelled)
        self._class_inner = self.layout.keys % inner
        self._class_cell = self.layout.keys // inner
        self._class_experiment = self._class_cell // self._n_conditions
        self._cell_starts = np.searchsorted(self._class_cell, np.arange(n_cells + 1))
        self._experiment_starts = np.searchsorted(self._class_experiment, np.arange(self._n_experiments + 1))
        populated = np.bincount(self._class_experiment, minlength=self._n_experiments) > 0
        if self.leak_size and populated.sum() < 2:
            raise DataValidationError(
                f"leaky batches need labelled rows from at least two experiments; the training rows have "
                f"{[n for n, p in zip(self.experiment_names, populated, strict=True) if p]}"
            )
        present = [n for n, p in zip(self.experiment_names, populated, strict=True) if p]
        self._experiment_weights = None
        if self.experiment_aware and experiment_weights is not None:
            vector = _named_vector(experiment_weights, present, "experiment_weights", "experiment")
            self._experiment_weights = np.zeros(self._n_experiments)
            self._experiment_weights[populated] = vector
        self._condition_ratio = np.ones(self._n_conditions)
        if self.condition_balanced:
            cell_rows = np.bincount(self._class_cell, weights=self.layout.sizes, minlength=n_cells)
            in_data = cell_rows.reshape(self._n_experiments, self._n_conditions).sum(axis=0) > 0
            names = [n for n, p in zip(self.condition_names, in_data, strict=True) if p]
            ratio = _named_vector(condition_ratio, names, "condition_ratio", "condition")
            self._condition_ratio = np.zeros(self._n_conditions)
            self._condition_ratio[in_data] = ratio
        self._warn_small_cells()

    def _warn_small_cells(self) -> None:
        plan = self._plan()
        cell_rows = np.bincount(self._class_cell, weights=self.layout.sizes, minlength=plan.quotas.size)
        small = np.flatnonzero((cell_rows < plan.quotas.ravel()) & (plan.quotas.ravel() > 0))
        if not small.size:
            return
        described = [
            f"{self._cell_name(cell)} ({int(cell_rows[cell])} rows, quota {int(plan.quotas.ravel()[cell])})"
            for cell in small[:10]
        ]
        more = f" and {small.size - 10} more" if small.size > 10 else ""
        warnings.warn(
            f"{small.size} batch cell(s) have fewer rows than their per-batch quota and are drawn with "
            f"replacement (rows repeat within a batch): {'; '.join(described)}{more}",
            SmallCellWarning,
            stacklevel=4,
        )

    def _cell_name(self, cell: int) -> str:
        experiment, condition = divmod(int(cell), self._n_conditions)
        parts = []
        if self.experiment_aware:
            parts.append(f"experiment {self.experiment_names[experiment]!r}")
        if self.condition_balanced:
            parts.append(f"condition {self.condition_names[condition]!r}")
        return " / ".join(parts)

    def _plan(self) -> _EpochPlan:
        """Class masses, quotas and experiment probabilities at the curriculum's current phase."""
        inner_weights = self.weighting.class_weights()[self._class_inner]
        masses = self.layout.sizes * inner_weights
        shape = (self._n_experiments, self._n_conditions)
        cell_mass = np.bincount(self._class_cell, weights=masses, minlength=math.prod(shape)).reshape(shape)
        experiment_mass = cell_mass.sum(axis=1)
        ratios = self._condition_ratio[None, :] * (cell_mass > 0)
        quotas = largest_remainder(self.primary_size, ratios)
        if self._experiment_weights is not None:
            choice = self._experiment_weights.copy()
        else:
            positive = self.layout.sizes * (inner_weights > 0)
            choice = np.bincount(self._class_experiment, weights=positive, minlength=self._n_experiments)
        choice *= (experiment_mass > 0) & (ratios.sum(axis=1) > 0)
        if self.leak_size:
            others_with_mass = (experiment_mass > 0).sum() - (experiment_mass > 0)
            choice *= others_with_mass > 0
        if not choice.sum() > 0:
            phase = (
                f" in curriculum phase {self.weighting.curriculum.phase!r}"
                if self.weighting.curriculum
                else ""
            )
            raise DataValidationError(
                f"no experiment can fill a batch{phase}: every experiment lacks rows with positive weight, "
                "has zero experiment weight, has only conditions with zero ratio, or (leaky) no other "
                "experiment has rows with positive weight"
            )
        return _EpochPlan(masses, cell_mass, experiment_mass, quotas, choice / choice.sum())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches().tolist()

    def epoch_batches(self, epoch: int | None = None) -> np.ndarray:
        """This rank's batches of ``epoch`` (default: the current one), shape ``(len(self), batch_size)``."""
        return self.global_batches(epoch)[self.rank :: self.num_replicas]

    def global_batches(self, epoch: int | None = None) -> np.ndarray:
        """All ranks' batches of ``epoch`` in order, shape ``(len(self) * num_replicas, batch_size)``.

        The first ``N // batch_size`` batches do not depend on ``num_replicas``; the rest pad the
        sequence so that every rank gets ``len(self)`` batches.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        count = self.num_batches * self.num_replicas
        generators = epoch_generators(self.seed, epoch, self.increment_seed_per_epoch, 4)
        if not self.structured:
            rows = draw_joint_indices(self.weighting, count * self.batch_size, generators[0], generators[1])
            return rows.reshape(count, self.batch_size)
        return self._structured_batches(count, *generators)

    def _structured_batches(
        self,
        count: int,
        experiment_rng: np.random.Generator,
        primary_rng: np.random.Generator,
        leak_rng: np.random.Generator,
        stream_rng: np.random.Generator,
    ) -> np.ndarray:
        plan = self._plan()
        n_experiments, n_cells = self._n_experiments, plan.quotas.size
        experiments = GroupedCategorical(plan.choice, np.array([0, n_experiments]))
        batch_experiment = experiments.draw(0, experiment_rng.random(count))
        # Cell of each primary slot: experiment e's quotas laid out as a row of P cell ids.
        fillable_quotas = plan.quotas.copy()
        fillable_quotas[plan.quotas.sum(axis=1) == 0, 0] = self.primary_size  # never chosen; keeps the shape
        template = np.repeat(np.arange(n_cells), fillable_quotas.ravel()).reshape(n_experiments, -1)
        cells = GroupedCategorical(plan.masses, self._cell_starts)
        slots = cells.draw(template[batch_experiment], primary_rng.random((count, self.primary_size)))
        if self.leak_size:
            uniforms = leak_rng.random((count, self.leak_size, 2))
            other_mass = np.tile(plan.experiment_mass, n_experiments)
            other_mass[np.arange(n_experiments) * (n_experiments + 1)] = 0.0
            others = GroupedCategorical(other_mass, np.arange(n_experiments + 1) * n_experiments)
            chosen = batch_experiment[:, None]
            leak_experiment = others.draw(chosen, uniforms[..., 0]) - chosen * n_experiments
            by_experiment = GroupedCategorical(plan.masses, self._experiment_starts)
            slots = np.concatenate([slots, by_experiment.draw(leak_experiment, uniforms[..., 1])], axis=1)
        streams = self.layout.shuffled_rows(stream_rng)
        rank = occurrence_rank(slots, self.layout.n_classes)
        return streams[self.layout.starts[slots] + rank % self.layout.sizes[slots]]

    def probabilities(self) -> np.ndarray:
        """Each row's expected share of a batch's slots at the current curriculum phase (sums to 1).

        Structured batches: row i of class k in cell (e, c) gets
        ``pi_e * q_ec / B * w_i / W_ec`` from primary parts plus
        ``L / B * w_i * sum_{e' != e} pi_e' / (W - W_e')`` from leaked parts, where ``pi`` are the
        experiment probabilities, ``q`` the quotas, ``L`` the leaked rows per batch and ``W`` total joint
        weights. Otherwise it is the joint weight itself.
        """
        if not self.structured:
            positive_class_masses(self.weighting)
            return self.weighting.row_weights()
        plan = self._plan()
        row_weight = plan.masses / self.layout.sizes
        cell = self._class_cell
        experiment = self._class_experiment
        cell_mass = plan.cell_mass.ravel()[cell]
        quota = plan.quotas.ravel()[cell]
        primary = np.divide(
            plan.choice[experiment] * quota * row_weight,
            cell_mass,
            out=np.zeros_like(row_weight),
            where=quota > 0,
        )
        per_class = primary / self.batch_size
        if self.leak_size:
            other = plan.experiment_mass.sum() - plan.experiment_mass
            share = np.divide(plan.choice, other, out=np.zeros_like(other), where=plan.choice > 0)
            per_class += self.leak_size / self.batch_size * row_weight * (share.sum() - share)[experiment]
        probabilities = np.zeros(self.weighting.n_rows)
        probabilities[self.layout.rows] = np.repeat(per_class, self.layout.sizes)
        return probabilities

    def statistics(self) -> WeightStatistics:
        """:func:`~admet_hpo.sampling.statistics.weight_statistics` of :meth:`probabilities`."""
        return self.weighting.statistics(
            self.probabilities(), self.experiment_codes, self.experiment_names or None
        )
