"""Quality curriculum (SPEC 2.2): per-quality draw shares that move one phase on at each plateau.

Phases depend on the number of qualities q (best first): q = 1 warmup -> polish; q = 2 warmup -> expand
-> polish; q >= 3 warmup -> expand -> robust -> polish. Polish is final. Each phase gives every quality a
probability ``p_q`` (the phase weights, normalised). A row of quality q is weighted ``p_q / count_q`` with
``count_normalize`` (so quality q's share of the draws is ``p_q`` whatever the group sizes) or ``p_q``
without.

Plateau rule: an epoch improves when ``val_loss < best - min_delta``. When ``patience`` epochs have passed
since the last improvement or the last phase change, the state advances exactly one phase and the
plateau counter restarts at that epoch, so a single plateau never skips several phases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from admet_hpo.config.sampling import phases_for
from admet_hpo.errors import DataValidationError

DEFAULT_PHASE_WEIGHTS: dict[int, dict[str, tuple[float, ...]]] = {
    1: {"warmup": (1.0,), "polish": (1.0,)},
    2: {"warmup": (0.85, 0.15), "expand": (0.65, 0.35), "polish": (0.75, 0.25)},
    3: {
        "warmup": (0.80, 0.15, 0.05),
        "expand": (0.60, 0.30, 0.10),
        "robust": (0.50, 0.35, 0.15),
        "polish": (0.70, 0.20, 0.10),
    },
}
"""SPEC 2.2 defaults, best quality first. More than 3 qualities: equal weights in every phase."""

STATE_VERSION = 1


def default_phase_weights(n_qualities: int) -> dict[str, tuple[float, ...]]:
    """SPEC 2.2 default weights per phase (equal weights when there are more than 3 qualities)."""
    if n_qualities in DEFAULT_PHASE_WEIGHTS:
        return dict(DEFAULT_PHASE_WEIGHTS[n_qualities])
    return {phase: (1.0,) * n_qualities for phase in phases_for(n_qualities)}


class CurriculumState:
    """Phase, plateau counter and per-quality probabilities of the quality curriculum.

    Args:
        qualities: quality labels, best first.
        patience: epochs without improvement that end a phase (>= 1).
        min_delta: an epoch improves when ``val_loss < best - min_delta``.
        phase_weights: per-phase weights (best first), overriding the defaults of the phases given; every
            list must have one weight per quality, with weights >= 0 and a positive sum.
        count_normalize: weight a row ``p_q / count_q`` (True) or ``p_q`` (False).

    The training loop calls :meth:`update` once per validated epoch; a phase change takes effect from the
    next epoch's draws because samplers read :attr:`probabilities` when an epoch starts. The state is saved
    with :meth:`state_dict` (plain JSON-able dict, e.g. into a Lightning checkpoint) and restored with
    :meth:`load_state_dict`.
    """

    def __init__(
        self,
        qualities: Sequence[str],
        patience: int,
        min_delta: float = 1e-4,
        phase_weights: Mapping[str, Sequence[float]] | None = None,
        count_normalize: bool = True,
    ) -> None:
        self.qualities = tuple(str(q) for q in qualities)
        if len(set(self.qualities)) != len(self.qualities):
            raise ValueError(f"qualities must be unique, got {list(self.qualities)}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.phases = phases_for(len(self.qualities))
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.count_normalize = bool(count_normalize)
        self._weights = self._resolve_weights(phase_weights or {})
        self._code_of = {q: i for i, q in enumerate(self.qualities)}
        self.phase_index = 0
        self.best: float = math.inf
        self.reference_epoch = -1  # last improvement or phase change; -1 = before epoch 0
        self.last_epoch: int | None = None
        self.transitions: list[tuple[int, str]] = []

    def _resolve_weights(self, overrides: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
        weights = default_phase_weights(len(self.qualities))
        for phase, values in overrides.items():
            if phase not in self.phases:
                raise ValueError(
                    f"phase_weights: phase {phase!r} does not exist with {len(self.qualities)} qualities "
                    f"(phases: {', '.join(self.phases)})"
                )
            if len(values) != len(self.qualities):
                raise ValueError(
                    f"phase_weights: phase {phase!r} has {len(values)} weights but there are "
                    f"{len(self.qualities)} qualities ({', '.join(self.qualities)}); give one weight per "
                    "quality, best first"
                )
            if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
                raise ValueError(
                    f"phase_weights: phase {phase!r} weights must be finite, >= 0 and have a positive sum, "
                    f"got {list(values)}"
                )
            weights[phase] = tuple(float(v) for v in values)
        return {phase: np.asarray(w, dtype=np.float64) / sum(w) for phase, w in weights.items()}

    @property
    def phase(self) -> str:
        """Name of the current phase."""
        return self.phases[self.phase_index]

    @property
    def is_final(self) -> bool:
        """True in the last phase (polish), which never ends."""
        return self.phase_index == len(self.phases) - 1

    @property
    def probabilities(self) -> dict[str, float]:
        """Current phase's probability ``p_q`` per quality (sums to 1)."""
        return self.phase_probabilities(self.phase)

    def phase_probabilities(self, phase: str) -> dict[str, float]:
        """Probability ``p_q`` per quality in ``phase``."""
        return dict(zip(self.qualities, self._weights[phase].tolist(), strict=True))

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record the validation loss of ``epoch``; return True when the phase advanced.

        Each epoch counts once: a call with an epoch <= the last recorded one changes nothing. A NaN loss
        never improves.
        """
        epoch = int(epoch)
        if self.last_epoch is not None and epoch <= self.last_epoch:
            return False
        self.last_epoch = epoch
        loss = float(val_loss)
        if loss < self.best - self.min_delta:
            self.best = loss
            self.reference_epoch = epoch
            return False
        if self.is_final or epoch - self.reference_epoch < self.patience:
            return False
        self.phase_index += 1
        self.reference_epoch = epoch
        self.transitions.append((epoch, self.phase))
        return True

    def quality_codes(self, quality: np.ndarray) -> np.ndarray:
        """Quality labels -> codes 0..q-1 (best first); integer arrays are taken as codes and checked.

        A label outside ``qualities`` (including a missing one) raises :class:`DataValidationError`
        naming the first offending rows (0-based positions in ``quality``).
        """
        values = np.asarray(quality)
        if np.issubdtype(values.dtype, np.integer):
            codes = values.astype(np.int64)
            bad = (codes < 0) | (codes >= len(self.qualities))
        else:
            labels = values if values.dtype.kind == "U" else values.astype(str)
            known = np.asarray(self.qualities)
            order = np.argsort(known)
            pos = np.minimum(np.searchsorted(known[order], labels), len(known) - 1)
            codes = order[pos]
            bad = known[codes] != labels
            if values.dtype == object:
                bad |= values == None  # noqa: E711  (element-wise test for missing labels)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataValidationError(
                f"quality: {rows.size} row(s) have a value outside the configured qualities "
                f"{list(self.qualities)}; first rows {rows[:5].tolist()} "
                f"with values {values[rows[:5]].tolist()}"
            )
        return codes

    def quality_row_weights(self, counts: np.ndarray) -> np.ndarray:
        """Per-row weight of each quality given ``counts[q]``, the size of quality q (shape ``(q,)``).

        ``p_q / count_q`` with ``count_normalize`` (0 for a quality without rows), else ``p_q``. The joint
        weighting passes each quality's total task weight as its size, so that quality shares stay
        ``p_q`` under task oversampling.
        """
        p = self._weights[self.phase]
        if not self.count_normalize:
            return p.copy()
        counts = np.asarray(counts, dtype=np.float64)
        return np.divide(p, counts, out=np.zeros_like(p), where=counts > 0)

    def row_weights(self, quality: np.ndarray) -> np.ndarray:
        """Per-row ``w_quality`` for quality codes or labels; ``count_q`` is counted over ``quality``."""
        codes = self.quality_codes(quality)
        counts = np.bincount(codes, minlength=len(self.qualities))
        return self.quality_row_weights(counts)[codes]

    def metrics(self, prefix: str = "curriculum/") -> dict[str, float]:
        """Phase index and per-quality probabilities as flat metrics for per-epoch logging."""
        out = {f"{prefix}phase_index": float(self.phase_index)}
        out.update({f"{prefix}p_{q}": p for q, p in self.probabilities.items()})
        return out

    def state_dict(self) -> dict[str, Any]:
        """The mutable state as a JSON-able dict (infinite ``best`` is stored as None)."""
        return {
            "version": STATE_VERSION,
            "qualities": list(self.qualities),
            "phase_index": self.phase_index,
            "best": None if math.isinf(self.best) else self.best,
            "reference_epoch": self.reference_epoch,
            "last_epoch": self.last_epoch,
            "transitions": [[epoch, phase] for epoch, phase in self.transitions],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the qualities must match this curriculum's."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported curriculum state version {state.get('version')!r}")
        if list(state["qualities"]) != list(self.qualities):
            raise ValueError(
                f"curriculum state is for qualities {list(state['qualities'])}, this curriculum has "
                f"{list(self.qualities)}"
            )
        index = int(state["phase_index"])
        if not 0 <= index < len(self.phases):
            raise ValueError(f"curriculum state phase_index {index} out of range for phases {self.phases}")
        self.phase_index = index
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.reference_epoch = int(state["reference_epoch"])
        self.last_epoch = None if state["last_epoch"] is None else int(state["last_epoch"])
        self.transitions = [(int(epoch), str(phase)) for epoch, phase in state["transitions"]]
