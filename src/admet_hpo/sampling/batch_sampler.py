"""Batch sampler with experiment-aware, leaky, condition-balanced batches (SPEC 2.4, 2.7).

Drawing semantics of one epoch of ``N // batch_size`` batches (all ranks compute the same sequence from
``(seed, epoch)``; low-variance counts are the floor or ceiling of their expectation, see
:mod:`~admet_hpo.sampling.allocation`):

1. Experiments have choice probabilities proportional to their size (rows with a positive joint
   weight) or to ``experiment_weights``; experiments without positive joint weight, or whose
   conditions all have ratio 0, are never chosen. Each experiment leads a low-variance number of the
   epoch's batches, in a seeded random order.
2. A batch's primary part (``batch_size - int(batch_size * leaky)`` rows) is split over its
   experiment's conditions that have positive weight (the whole pool's conditions without
   ``experiment_aware``), by ``condition_ratio`` (default equal) with largest-remainder rounding; equal
   remainders are ordered at random per batch, so no condition is systematically short (SPEC 2.7.3).
3. The slots of each (experiment, condition) cell over the epoch, and each experiment's leaked slots
   (spread over the other experiments by their joint mass), get low-variance counts of the weight
   classes by class mass, handed out to the slots at random; a class's draws walk its rows in a fresh
   random order, cycled. So each slot's expected distribution is proportional to the (fitted) joint
   weight within its pool, a row repeats inside a batch only when its class has fewer rows than the
   batch asks of it (always the case for a cell smaller than its quota: warned once at construction),
   and rows of a class are used as evenly as possible.
4. Curriculum shares are epoch targets (SPEC 2.7.1): with a count-normalised curriculum the qualities'
   weights inside each cell are fitted (:mod:`~admet_hpo.sampling.balance`) so that the epoch's quality
   shares match ``p_q`` as closely as the cells allow; cell masses, and so experiment and leak shares,
   do not change. When the cells make ``p_q`` infeasible, the closest shares are drawn and a
   :class:`QualityShareWarning` naming the cells is issued once per phase.

Without ``experiment_aware`` and ``condition_balanced`` batches are consecutive chunks of the
:class:`~admet_hpo.sampling.joint_sampler.JointSampler` epoch (a plain shuffle when both weight factors
are off). ``len(sampler) = ceil((N // batch_size) / num_replicas)`` with N the number of labelled rows;
the global sequence repeats the epoch's first batches so that every rank gets exactly that many batches
of exactly ``batch_size`` rows.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling.allocation import shuffled_within_groups, stream_rows, systematic_counts
from admet_hpo.sampling.balance import fit_quality_shares
from admet_hpo.sampling.curriculum import CurriculumState
from admet_hpo.sampling.grouping import ClassLayout
from admet_hpo.sampling.joint_sampler import draw_joint_indices, positive_class_masses
from admet_hpo.sampling.labels import encode_labels
from admet_hpo.sampling.quotas import expected_largest_remainder, largest_remainder
from admet_hpo.sampling.seeding import epoch_generators
from admet_hpo.sampling.statistics import WeightStatistics
from admet_hpo.sampling.weighting import JointWeighting

logger = logging.getLogger(__name__)


SHARE_TOLERANCE = 1e-3
"""Largest gap between achieved and configured quality shares that draws no infeasibility warning."""


class SmallCellWarning(UserWarning):
    """Some (experiment, condition) cells hold fewer rows than their per-batch quota."""


class QualityShareWarning(UserWarning):
    """The batch cells cannot give the curriculum's configured quality shares; the closest are drawn."""


@dataclass(frozen=True)
class _EpochPlan:
    """The per-epoch quantities that depend on the curriculum phase (class masses and batch layout)."""

    masses: np.ndarray  # (K,) joint weight per class, quality-fitted inside cells
    cell_mass: np.ndarray  # (E, C)
    experiment_mass: np.ndarray  # (E,)
    ratios: np.ndarray  # (E, C) condition ratios of the cells that can be drawn
    quotas: np.ndarray  # (E, C) expected primary-part rows per condition and batch
    choice: np.ndarray  # (E,) probability that a batch is drawn from experiment e
    leak_share: np.ndarray  # (E,) sum over the other experiments e' of choice[e'] / (W - W_e')


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
        seed: base seed; the epoch's generator is ``default_rng([seed, epoch])`` when
            ``increment_seed_per_epoch``, else ``default_rng([seed])`` (SPEC 2.7.4).
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
        self.epoch_batch_count = weighting.n_labelled // self.batch_size
        self.num_batches = math.ceil(self.epoch_batch_count / self.num_replicas)
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
        self._share_warned: set[str] = set()
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
        self._experiment_weights = None
        if self.experiment_aware:
            populated = np.bincount(self._class_experiment, minlength=self._n_experiments) > 0
            present = [n for n, p in zip(self.experiment_names, populated, strict=True) if p]
            if self.leak_size and len(present) < 2:
                raise DataValidationError(
                    f"leaky batches need labelled rows from at least two experiments; the training rows "
                    f"have {present}"
                )
            if experiment_weights is not None:
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
        largest_quota = np.ceil(plan.quotas.ravel() - 1e-9)  # a batch's quota: floor or ceil of the mean
        small = np.flatnonzero((cell_rows < largest_quota) & (largest_quota > 0))
        if not small.size:
            return
        described = [
            f"{self._cell_name(cell)} ({int(cell_rows[cell])} rows, quota {int(largest_quota[cell])})"
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
        quotas = expected_largest_remainder(self.primary_size, ratios)
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
        choice = choice / choice.sum()
        other_mass = experiment_mass.sum() - experiment_mass
        per_leaker = np.divide(choice, other_mass, out=np.zeros_like(choice), where=other_mass > 0)
        leak_share = per_leaker.sum() - per_leaker
        plan = _EpochPlan(masses, cell_mass, experiment_mass, ratios, quotas, choice, leak_share)
        return self._fit_qualities(plan)

    def _cell_slot_shares(self, plan: _EpochPlan) -> np.ndarray:
        """Each cell's expected share of an epoch's slots: its primary quota plus the rows it leaks."""
        primary = plan.choice[:, None] * plan.quotas / self.batch_size
        leaked = self.leak_size / self.batch_size * plan.cell_mass * plan.leak_share[:, None]
        return (primary + leaked).ravel()

    def _fit_qualities(self, plan: _EpochPlan) -> _EpochPlan:
        """``plan`` with the qualities' masses inside each cell fitted to the curriculum's shares."""
        targets = self.weighting.quality_targets()
        class_quality = self.weighting.class_quality
        if targets is None or class_quality is None or targets.size < 2:
            return plan
        n_qualities = targets.size
        quality = class_quality[self._class_inner]
        n_cells = plan.cell_mass.size
        table = np.bincount(
            self._class_cell * n_qualities + quality, weights=plan.masses, minlength=n_cells * n_qualities
        ).reshape(n_cells, n_qualities)
        cell_mass = plan.cell_mass.reshape(-1, 1)
        before = np.divide(table, cell_mass, out=np.zeros_like(table), where=cell_mass > 0)
        slot_share = self._cell_slot_shares(plan)
        fit = fit_quality_shares(slot_share[:, None] * before, slot_share, targets)
        drawn = slot_share > 0
        factor = np.ones_like(table)
        factor[drawn] = np.divide(
            fit.mix[drawn], before[drawn], out=np.ones_like(table[drawn]), where=before[drawn] > 0
        )
        if np.abs(fit.achieved - targets).max() > SHARE_TOLERANCE:
            self._warn_infeasible(targets, fit.achieved, table > 0, slot_share)
        masses = plan.masses * factor[self._class_cell, quality]
        return dataclasses.replace(plan, masses=masses)

    def _warn_infeasible(
        self, targets: np.ndarray, achieved: np.ndarray, has_quality: np.ndarray, slot_share: np.ndarray
    ) -> None:
        """Warn once per curriculum phase that ``targets`` cannot be met, naming the cells that block."""
        assert self.weighting.curriculum is not None
        phase = self.weighting.curriculum.phase
        if phase in self._share_warned:
            return
        self._share_warned.add(phase)
        names = self.weighting.quality_names
        wanted = targets > 0
        reasons = []
        for q, name in enumerate(names):
            if achieved[q] < targets[q] - SHARE_TOLERANCE:
                blocking = np.flatnonzero((slot_share > 0) & ~has_quality[:, q])
                what = f"{name!r} is short: cells without {name!r} rows"
            elif achieved[q] > targets[q] + SHARE_TOLERANCE:
                others = np.delete(has_quality & wanted, q, axis=1).any(axis=1)
                blocking = np.flatnonzero((slot_share > 0) & ~others)
                what = f"{name!r} is in excess: cells with only {name!r} rows"
            else:
                continue
            if not blocking.size:  # off target only because another quality is blocked
                continue
            top = blocking[np.argsort(-slot_share[blocking], kind="stable")][:5]
            cells = ", ".join(f"{self._cell_name(c)} ({slot_share[c]:.1%})" for c in top)
            more = f" and {blocking.size - top.size} more" if blocking.size > top.size else ""
            reasons.append(f"{what} take {slot_share[blocking].sum():.1%} of the slots: {cells}{more}")
        shares = " / ".join(
            f"{name} {t:.3f} -> {a:.3f}" for name, t, a in zip(names, targets, achieved, strict=True)
        )
        warnings.warn(
            f"curriculum phase {phase!r}: the batch cells cannot give the configured quality shares; "
            f"drawing the closest ones ({shares}). {'; '.join(reasons)}",
            QualityShareWarning,
            stacklevel=4,
        )

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

        The first ``N // batch_size`` batches are the epoch and do not depend on ``num_replicas``; the
        rest repeat the epoch's first batches so that every rank gets ``len(self)`` batches.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        generators = epoch_generators(self.seed, epoch, self.increment_seed_per_epoch, 5)
        if self.structured:
            batches = self._structured_batches(*generators)
        else:
            rows = draw_joint_indices(self.weighting, self.weighting.n_labelled, *generators[:2])
            batches = rows[: self.epoch_batch_count * self.batch_size].reshape(-1, self.batch_size)
        return np.resize(batches, (self.num_batches * self.num_replicas, self.batch_size))

    def _structured_batches(
        self,
        experiment_rng: np.random.Generator,
        quota_rng: np.random.Generator,
        primary_rng: np.random.Generator,
        leak_rng: np.random.Generator,
        stream_rng: np.random.Generator,
    ) -> np.ndarray:
        plan = self._plan()
        count, n_experiments, n_conditions = self.epoch_batch_count, self._n_experiments, self._n_conditions
        per_experiment = systematic_counts(
            count * plan.choice, np.array([0, n_experiments]), np.array([count]), experiment_rng.random(1)
        )
        batch_experiment = experiment_rng.permutation(np.repeat(np.arange(n_experiments), per_experiment))
        quotas = largest_remainder(
            self.primary_size, plan.ratios[batch_experiment], quota_rng.random((count, n_conditions))
        )
        cells = batch_experiment[:, None] * n_conditions + np.arange(n_conditions)
        slot_cell = np.repeat(cells.ravel(), quotas.ravel()).reshape(count, self.primary_size)
        slot_class = self._slot_classes(
            plan.masses, self._class_cell, plan.cell_mass.ravel(), self._cell_starts, slot_cell, primary_rng
        )
        if self.leak_size:
            leaked = self._leaked_classes(plan, batch_experiment, per_experiment, leak_rng)
            slot_class = np.concatenate([slot_class, leaked], axis=1)
        return stream_rows(self.layout, slot_class, self.layout.shuffled_rows(stream_rng))

    def _leaked_classes(
        self,
        plan: _EpochPlan,
        batch_experiment: np.ndarray,
        per_experiment: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Class of each leaked slot ``(batches, leak_size)``: low-variance counts, first of the source
        experiment (by joint mass among the others), then of the class inside it (by mass)."""
        n_experiments = self._n_experiments
        slots = per_experiment * self.leak_size
        other = plan.experiment_mass.sum() - plan.experiment_mass
        to_source = np.tile(plan.experiment_mass, (n_experiments, 1))
        np.fill_diagonal(to_source, 0.0)
        expected = np.divide(
            slots[:, None] * to_source, other[:, None], out=np.zeros_like(to_source), where=slots[:, None] > 0
        )
        starts = np.arange(n_experiments + 1) * n_experiments
        source_counts = systematic_counts(expected.ravel(), starts, slots, rng.random(n_experiments))
        leak_group = np.repeat(batch_experiment, self.leak_size).reshape(-1, self.leak_size)
        sources = np.tile(np.arange(n_experiments), n_experiments)
        source = shuffled_within_groups(np.repeat(sources, source_counts), leak_group, rng)
        return self._slot_classes(
            plan.masses, self._class_experiment, plan.experiment_mass, self._experiment_starts, source, rng
        )

    def _slot_classes(
        self,
        masses: np.ndarray,
        class_group: np.ndarray,
        group_mass: np.ndarray,
        group_starts: np.ndarray,
        slot_group: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Class of every slot, shaped like ``slot_group``: each group's slots (a cell's, or the leaked
        slots from one experiment) split over the group's classes by mass in low-variance counts, handed
        out at random. Classes are contiguous per group (``group_starts``)."""
        slots = np.bincount(slot_group.ravel(), minlength=group_mass.size)
        mass = group_mass[class_group]
        expected = np.divide(slots[class_group] * masses, mass, out=np.zeros_like(masses), where=mass > 0)
        counts = systematic_counts(expected, group_starts, slots, rng.random(slots.size))
        return shuffled_within_groups(np.repeat(np.arange(masses.size), counts), slot_group, rng)

    def probabilities(self) -> np.ndarray:
        """Each row's expected share of an epoch's slots at the current curriculum phase (sums to 1).

        Structured batches: row i of class k in cell (e, c) gets
        ``pi_e * E[q_ec] / B * w_i / W_ec`` from primary parts plus
        ``L / B * w_i * sum_{e' != e} pi_e' / (W - W_e')`` from leaked parts, where ``pi`` are the
        experiment probabilities, ``E[q]`` the expected quotas (over random tie orders), ``L`` the
        leaked rows per batch and ``w``, ``W`` the quality-fitted joint weights and their totals.
        Otherwise it is the joint weight itself.
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
            per_class += self.leak_size / self.batch_size * row_weight * plan.leak_share[experiment]
        probabilities = np.zeros(self.weighting.n_rows)
        probabilities[self.layout.rows] = np.repeat(per_class, self.layout.sizes)
        return probabilities

    def statistics(self) -> WeightStatistics:
        """:func:`~admet_hpo.sampling.statistics.weight_statistics` of :meth:`probabilities`."""
        return self.weighting.statistics(
            self.probabilities(), self.experiment_codes, self.experiment_names or None
        )
