"""Many small categorical distributions drawn from at once, by inverse CDF with a guide table.

Classes ``0..K-1`` are split into contiguous groups; a draw names a group and gives a uniform number
``u`` in [0, 1), and returns the first class ``k`` of the group whose within-group cumulative probability
``F_k`` exceeds ``u`` (exactly ``np.searchsorted(F_group, u, side="right")``). A guide table (two to
four entries per class) jumps close to the answer, so a draw costs O(1) expected steps instead of a
binary search: about as cheap as a uniform integer draw, for one group or thousands.
"""

from __future__ import annotations

import numpy as np


class GroupedCategorical:
    """Categorical distributions over contiguous groups of classes.

    Args:
        masses: ``(K,)`` non-negative class masses; a class's probability in its group is its mass over
            the group total.
        group_starts: ``(G + 1,)`` non-decreasing class offsets, ``group_starts[0] == 0`` and
            ``group_starts[-1] == K``; group g holds classes ``group_starts[g]:group_starts[g + 1]``.

    Groups with zero total mass (``totals[g] == 0``) cannot be drawn from; callers never name them.
    Zero-mass classes are never drawn.
    """

    def __init__(self, masses: np.ndarray, group_starts: np.ndarray) -> None:
        masses = np.asarray(masses, dtype=np.float64)
        starts = np.asarray(group_starts, dtype=np.int64)
        if starts[0] != 0 or starts[-1] != masses.size or np.any(np.diff(starts) < 0):
            raise ValueError("group_starts must rise from 0 to the number of classes")
        if np.any(masses < 0) or not np.all(np.isfinite(masses)):
            raise ValueError("class masses must be finite and >= 0")
        n_groups = starts.size - 1
        sizes = np.diff(starts)
        group = np.repeat(np.arange(n_groups), sizes)
        totals = np.bincount(group, weights=masses, minlength=n_groups)
        share = np.divide(masses, totals[group], out=np.zeros_like(masses), where=totals[group] > 0)
        cumulative = np.cumsum(share)
        before = np.concatenate(([0.0], cumulative))[starts[:-1]]
        within = np.minimum(cumulative - before[group], 1.0)
        # The last class with mass closes its group at exactly 1, as do the zero-mass classes after it.
        index = np.arange(masses.size)
        last_positive = np.full(n_groups, -1, dtype=np.int64)
        np.maximum.at(last_positive, group, np.where(share > 0, index, -1))
        closed = index >= last_positive[group]
        within[closed] = 1.0
        self.totals = totals
        self.sizes = sizes
        self.starts = starts[:-1]
        self.cdf = within
        self._build_guide(group, sizes, within)

    def _build_guide(self, group: np.ndarray, sizes: np.ndarray, within: np.ndarray) -> None:
        """Guide table: group g gets ``m_g`` entries, a power of two >= 2 * n_g (n_g = its class count).

        Entry j holds the first class of g with ``F_k > j / m_g``: a lower bound of the answer for every
        ``u`` with ``floor(u * m_g) == j``. Scaling by a power of two is exact in floating point, so the
        entry index and the bound are exact and the answer is typically 0 or 1 steps further.
        """
        entries = np.where(sizes > 0, 2 ** (np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64) + 1), 0)
        self._entries = entries
        self._entry_starts = np.concatenate(([0], np.cumsum(entries)))[:-1]
        m = entries[group]
        first_entry = np.ceil(within * m).astype(np.int64)  # class k lies below entry j iff j >= this
        # Histogram of first entries per group, each group with one spill bin for "never below".
        bin_starts = self._entry_starts + np.arange(sizes.size)
        hist = np.bincount(bin_starts[group] + first_entry, minlength=int(entries.sum()) + sizes.size)
        below = np.cumsum(hist)
        entry_group = np.repeat(np.arange(sizes.size), entries)
        entry_pos = np.arange(entries.sum()) + entry_group  # skip the spill bins of earlier groups
        before_group = np.concatenate(([0], below))[bin_starts]
        self.guide = self.starts[entry_group] + below[entry_pos] - before_group[entry_group]

    def draw(self, groups: np.ndarray | int, u: np.ndarray) -> np.ndarray:
        """One class per uniform in ``u``: ``start_g + searchsorted(F_g, u, side="right")``.

        ``groups`` (a group index per draw, or one for all) broadcasts against ``u``; the result has
        ``u``'s shape.
        """
        u = np.asarray(u, dtype=np.float64)
        groups = np.asarray(groups)
        entry = (u * self._entries[groups]).astype(np.int64)
        classes = self.guide[self._entry_starts[groups] + entry].reshape(-1)
        flat_u = u.reshape(-1)
        active = np.flatnonzero(self.cdf[classes] <= flat_u)
        while active.size:
            classes[active] += 1
            active = active[self.cdf[classes[active]] <= flat_u[active]]
        return classes.reshape(u.shape)
