"""Task oversampling (SPEC 2.1): each row's rarest labelled task and its inverse-power weight.

``n_t`` is the number of labelled rows of task ``t`` among the rows passed in (the training split). A
row's primary task is ``argmin_t n_t`` over the tasks it has a label for (ties: the lower task index);
its weight is ``n_primary ** -alpha``. A row with no label has primary task -1 and weight 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from admet_hpo.errors import DataValidationError

logger = logging.getLogger(__name__)

UNLABELLED = -1


def _as_targets(targets: np.ndarray) -> np.ndarray:
    array = np.asarray(targets)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"targets must be a 2-D float array (rows x tasks, NaN = missing), got {array.dtype} "
            f"with shape {array.shape}"
        )
    return array


def label_counts(targets: np.ndarray, task_names: Sequence[str] | None = None) -> np.ndarray:
    """``n_t`` per task column; a column without any label raises :class:`DataValidationError`."""
    array = _as_targets(targets)
    counts = (~np.isnan(array)).sum(axis=0)
    if task_names is not None and len(task_names) != array.shape[1]:
        raise ValueError(f"{len(task_names)} task names given for {array.shape[1]} target columns")
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        names = [f"{i} ({task_names[i]!r})" if task_names is not None else str(i) for i in empty]
        raise DataValidationError(
            f"task column(s) {', '.join(names)} have no labelled rows in the training split; "
            "every target needs at least one label (drop the column or change the split)"
        )
    return counts


def primary_tasks(targets: np.ndarray, task_names: Sequence[str] | None = None) -> np.ndarray:
    """Each row's rarest labelled task (``argmin n_t``, ties to the lower index); -1 for unlabelled rows."""
    array = _as_targets(targets)
    return _primary_from_counts(array, label_counts(array, task_names))


def _primary_from_counts(array: np.ndarray, counts: np.ndarray) -> np.ndarray:
    n_tasks = array.shape[1]
    by_rarity = np.argsort(counts, kind="stable")  # task index of rank r
    rarity = np.empty(n_tasks, dtype=np.int64)
    rarity[by_rarity] = np.arange(n_tasks)
    code_type = np.uint8 if n_tasks < 255 else np.int64
    ranks = np.where(np.isnan(array), code_type(n_tasks), rarity.astype(code_type)).min(axis=1)
    lookup = np.append(by_rarity, UNLABELLED)
    return lookup[ranks]


def task_factors(counts: np.ndarray, alpha: float) -> np.ndarray:
    """Per-task weight ``n_t ** -alpha``; alpha outside [0, 1] logs a warning and is still applied."""
    if not 0.0 <= alpha <= 1.0:
        logger.warning(
            "task oversampling alpha=%s is outside [0, 1]: %s",
            alpha,
            "rarer tasks are weighted more than inverse frequency"
            if alpha > 1
            else "frequent tasks are favoured",
        )
    return np.asarray(counts, dtype=np.float64) ** (-float(alpha))


def task_weights(targets: np.ndarray, alpha: float, task_names: Sequence[str] | None = None) -> np.ndarray:
    """Per-row task weight ``n_{primary(i)} ** -alpha`` (0 for rows with no label), shape ``(N,)``.

    ``targets`` is the ``(N, T)`` training target matrix with NaN for missing labels. alpha = 0 gives 1
    for every labelled row; alpha = 1 makes each primary task's total weight equal. A task column with
    no label raises :class:`DataValidationError` naming its index (and name when ``task_names`` given).
    """
    array = _as_targets(targets)
    counts = label_counts(array, task_names)
    primary = _primary_from_counts(array, counts)
    factors = task_factors(counts, alpha)
    return np.where(primary >= 0, np.append(factors, 0.0)[primary], 0.0)
