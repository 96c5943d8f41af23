"""Statistics of a sampling distribution (SPEC 2.6), logged every epoch."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass(frozen=True)
class WeightStatistics:
    """Summary of per-row draw probabilities ``p`` over ``n`` rows.

    ``entropy`` is in nats; ``normalized_entropy = entropy / ln n`` (1 = uniform; 1.0 when n == 1);
    ``ess = 1 / sum p^2`` is the effective sample size and ``ess_fraction = ess / n``. The share
    dictionaries give the expected share of draws per primary task (``task_shares``), per task label
    carried (``task_label_shares``: the share of draws with a label for the task; a row with several
    labels counts for each, so these need not sum to 1), per quality and per experiment.
    ``quality_targets`` holds the curriculum's configured shares ``p_q`` when they are targets
    (count-normalised curriculum), so configured and achieved shares sit side by side.
    """

    n: int
    min: float
    max: float
    entropy: float
    normalized_entropy: float
    ess: float
    ess_fraction: float
    task_shares: dict[str, float] = field(default_factory=dict)
    task_label_shares: dict[str, float] = field(default_factory=dict)
    quality_shares: dict[str, float] = field(default_factory=dict)
    experiment_shares: dict[str, float] = field(default_factory=dict)
    quality_targets: dict[str, float] = field(default_factory=dict)

    def as_metrics(self, prefix: str = "sampler/") -> dict[str, float]:
        """Flat ``{name: value}`` for metric loggers, e.g. ``sampler/ess_fraction``,
        ``sampler/share_task/<task>`` (primary task), ``sampler/share_task_label/<task>``,
        ``sampler/share_quality/<q>`` (achieved), ``sampler/share_quality_target/<q>`` (configured);
        characters MLflow rejects in names become ``_``."""
        metrics = {
            f"{prefix}{name}": float(getattr(self, name))
            for name in ("min", "max", "entropy", "normalized_entropy", "ess", "ess_fraction")
        }
        for group, shares in (
            ("task", self.task_shares),
            ("task_label", self.task_label_shares),
            ("quality", self.quality_shares),
            ("quality_target", self.quality_targets),
            ("experiment", self.experiment_shares),
        ):
            for name, share in shares.items():
                metrics[f"{prefix}share_{group}/{_METRIC_UNSAFE.sub('_', name)}"] = share
        return metrics


def _shares(
    probabilities: np.ndarray, codes: np.ndarray | None, names: Sequence[str] | None
) -> dict[str, float]:
    if codes is None:
        return {}
    codes = np.asarray(codes)
    size = len(names) if names is not None else int(codes.max(initial=-1)) + 1
    valid = codes >= 0
    totals = np.bincount(codes[valid], weights=probabilities[valid], minlength=size)
    return _named(totals.tolist(), names)


def _label_shares(
    probabilities: np.ndarray, labels: np.ndarray | None, names: Sequence[str] | None
) -> dict[str, float]:
    if labels is None:
        return {}
    labels = np.asarray(labels, dtype=bool)
    if labels.ndim != 2 or labels.shape[0] != probabilities.size:
        raise ValueError(f"task_labels has shape {labels.shape}, expected ({probabilities.size}, T)")
    return _named((probabilities @ labels).tolist(), names)


def _named(values: Sequence[float] | None, names: Sequence[str] | None) -> dict[str, float]:
    if values is None:
        return {}
    labels = list(names) if names is not None else [str(i) for i in range(len(values))]
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values for {len(labels)} names")
    return {label: float(value) for label, value in zip(labels, values, strict=True)}


def weight_statistics(
    probabilities: np.ndarray,
    primary_task: np.ndarray | None = None,
    quality: np.ndarray | None = None,
    experiment: np.ndarray | None = None,
    *,
    task_names: Sequence[str] | None = None,
    quality_names: Sequence[str] | None = None,
    experiment_names: Sequence[str] | None = None,
    task_labels: np.ndarray | None = None,
    quality_targets: Sequence[float] | None = None,
) -> WeightStatistics:
    """Statistics of the per-row draw probabilities ``probabilities`` (normalised here to sum 1).

    ``primary_task``, ``quality`` and ``experiment`` are optional integer codes per row (-1 = none) for
    the share dictionaries, named by the matching ``*_names`` (default: the code as text). ``n`` is the
    number of rows passed: the samplers pass their labelled training rows. ``task_labels`` is an
    optional ``(n, T)`` boolean matrix (row has a label for task t) for ``task_label_shares``, named by
    ``task_names``; ``quality_targets`` are configured shares listed in ``quality_names`` order.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.all(np.isfinite(p)) or not p.sum() > 0:
        raise ValueError(
            "probabilities must be a non-empty 1-D array of finite values >= 0 with a positive sum"
        )
    p = p / p.sum()
    n = int(p.size)
    positive = p[p > 0]
    entropy = float(-(positive * np.log(positive)).sum())
    ess = float(1.0 / np.square(p).sum())
    return WeightStatistics(
        n=n,
        min=float(p.min()),
        max=float(p.max()),
        entropy=entropy,
        normalized_entropy=entropy / math.log(n) if n > 1 else 1.0,
        ess=ess,
        ess_fraction=ess / n,
        task_shares=_shares(p, primary_task, task_names),
        quality_shares=_shares(p, quality, quality_names),
        experiment_shares=_shares(p, experiment, experiment_names),
        task_label_shares=_label_shares(p, task_labels, task_names),
        quality_targets=_named(quality_targets, quality_names),
    )
