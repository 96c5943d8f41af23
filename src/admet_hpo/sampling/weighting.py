"""Joint weights (SPEC 2.3): ``w_joint = w_task * w_quality`` over the labelled training rows.

Either factor can be off (then it is 1). Rows without any label always weigh 0: chemprop's loss is NaN
for a batch without labels, so such rows must never be drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from admet_hpo.sampling.curriculum import CurriculumState
from admet_hpo.sampling.grouping import ClassLayout
from admet_hpo.sampling.labels import encode_labels
from admet_hpo.sampling.statistics import WeightStatistics, weight_statistics
from admet_hpo.sampling.tasks import _as_targets, _primary_from_counts, label_counts, task_factors


def joint_weights(
    labelled: np.ndarray, task: np.ndarray | None = None, quality: np.ndarray | None = None
) -> np.ndarray:
    """``labelled * w_task * w_quality`` normalised to sum 1; a factor given as None is 1.

    With both factors None every labelled row gets ``1 / n_labelled`` (a plain shuffle's distribution).
    """
    weights = np.asarray(labelled, dtype=np.float64).copy()
    for factor in (task, quality):
        if factor is not None:
            weights *= factor
    total = weights.sum()
    if not total > 0:
        raise ValueError("joint weights: no labelled row has a positive weight")
    return weights / total


class JointWeighting:
    """The joint weighting of a training split's rows, factorised into weight classes.

    Args:
        targets: ``(N, T)`` float training targets, NaN = missing label.
        task_alpha: task-oversampling exponent, or None when task oversampling is off.
        quality: ``(N,)`` quality labels (or codes); required with a curriculum, otherwise optional and
            used only to report per-quality shares.
        curriculum: the quality curriculum, or None when it is off. Its *current* phase is read whenever
            weights are asked for, so a phase change shows in the next epoch's draws.
        task_names: names of the target columns, for messages and statistics.

    Rows share a weight class when they share the factors that are on (primary task when task
    oversampling is on, quality when the curriculum is on); all off gives one class of every labelled
    row. Class weights are per-row weights: ``n_t ** -alpha`` times ``p_q / m_q`` (or ``p_q`` without
    ``count_normalize``), where ``m_q`` is the total task weight of the labelled rows of quality q (their
    count when task oversampling is off), so that quality q's share of the draws is exactly ``p_q`` with
    or without task oversampling (SPEC 2.7.1); task oversampling keeps its relative weights inside each
    quality.
    """

    def __init__(
        self,
        targets: np.ndarray,
        *,
        task_alpha: float | None = None,
        quality: np.ndarray | None = None,
        curriculum: CurriculumState | None = None,
        task_names: Sequence[str] | None = None,
    ) -> None:
        array = _as_targets(targets)
        self.n_rows, n_tasks = array.shape
        self.task_names = (
            tuple(task_names) if task_names is not None else tuple(str(t) for t in range(n_tasks))
        )
        self.task_counts = label_counts(array, task_names)
        self.primary = _primary_from_counts(array, self.task_counts)
        self.label_mask = ~np.isnan(array)
        self.labelled = self.primary >= 0
        self.task_alpha = task_alpha
        self.task_factors = None if task_alpha is None else task_factors(self.task_counts, task_alpha)
        self.curriculum = curriculum
        self.quality_codes: np.ndarray | None = None
        self.quality_names: tuple[str, ...] = ()
        if curriculum is not None:
            if quality is None:
                raise ValueError("quality labels are required when the curriculum is on")
            self.quality_codes = curriculum.quality_codes(quality)
            self.quality_names = curriculum.qualities
        elif quality is not None:
            codes, names = encode_labels(quality, "quality", rows=np.empty(0, dtype=np.int64))
            self.quality_codes, self.quality_names = codes, tuple(names)
        if self.quality_codes is not None and self.quality_codes.shape != (self.n_rows,):
            raise ValueError(f"quality has shape {self.quality_codes.shape}, expected ({self.n_rows},)")
        n_quality_keys = len(self.quality_names) if curriculum is not None else 1
        task_key = self.primary if self.task_factors is not None else np.zeros(self.n_rows, dtype=np.int64)
        quality_key = self.quality_codes if curriculum is not None else 0
        n_task_keys = n_tasks if self.task_factors is not None else 1
        self.layout = ClassLayout.from_keys(
            task_key * n_quality_keys + quality_key, n_task_keys * n_quality_keys, self.labelled
        )
        self._class_task = self.layout.keys // n_quality_keys if self.task_factors is not None else None
        self._class_quality = self.layout.keys % n_quality_keys if curriculum is not None else None

    @property
    def n_labelled(self) -> int:
        """Number of rows with at least one label (the rows that can be drawn)."""
        return int(self.layout.rows.size)

    def _task_class_weights(self) -> np.ndarray:
        """Per-row task weight of each class (1 when task oversampling is off)."""
        if self.task_factors is None:
            return np.ones(self.layout.n_classes)
        return self.task_factors[self._class_task]

    def _quality_factors(self) -> np.ndarray:
        assert self.curriculum is not None and self._class_quality is not None
        task_mass = np.bincount(
            self._class_quality,
            weights=self.layout.sizes * self._task_class_weights(),
            minlength=len(self.quality_names),
        )
        return self.curriculum.quality_row_weights(task_mass)

    @property
    def class_quality(self) -> np.ndarray | None:
        """Quality code of each class when the curriculum is on, else None."""
        return self._class_quality

    def quality_targets(self) -> np.ndarray | None:
        """The curriculum's ``p_q`` when they are share targets (``count_normalize``), else None."""
        if self.curriculum is None or not self.curriculum.count_normalize:
            return None
        return np.array([self.curriculum.probabilities[q] for q in self.quality_names])

    def class_weights(self) -> np.ndarray:
        """Per-row weight of each class at the curriculum's current phase (unnormalised), shape ``(K,)``."""
        weights = self._task_class_weights()
        if self.curriculum is not None:
            weights *= self._quality_factors()[self._class_quality]
        return weights

    def row_weights(self) -> np.ndarray:
        """``w_joint`` per row (sums to 1) at the curriculum's current phase, via :func:`joint_weights`."""
        task = None
        if self.task_factors is not None:
            task = np.append(self.task_factors, 0.0)[self.primary]
        quality = None
        if self.curriculum is not None:
            quality = self._quality_factors()[self.quality_codes]
        return joint_weights(self.labelled, task, quality)

    def statistics(
        self,
        probabilities: np.ndarray,
        experiment: np.ndarray | None = None,
        experiment_names: Sequence[str] | None = None,
    ) -> WeightStatistics:
        """:func:`weight_statistics` of per-row draw ``probabilities`` over the labelled rows.

        Shares are reported per primary task, per task label carried, per quality (when quality labels
        are known) with the curriculum's targets (:meth:`quality_targets`), and per experiment when
        ``experiment`` codes are given.
        """
        rows = self.labelled
        quality = self.quality_codes
        targets = self.quality_targets()
        return weight_statistics(
            probabilities[rows],
            self.primary[rows],
            None if quality is None else quality[rows],
            None if experiment is None else experiment[rows],
            task_names=self.task_names,
            quality_names=self.quality_names or None,
            experiment_names=experiment_names,
            task_labels=self.label_mask[rows],
            quality_targets=None if targets is None else targets.tolist(),
        )
