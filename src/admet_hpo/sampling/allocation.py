"""Low-variance epoch draws (SPEC 2.7.2): systematic sampling of counts, then a seeded random order.

An epoch's draws are not independent: each group of slots (the whole epoch, a batch cell, the leaked
slots of one experiment's batches) first fixes how many draws each of its weight classes gets, by
systematic sampling (every class gets the floor or the ceiling of its expected count, and exactly its
expected count on average), and then hands the classes out to its slots in a seeded random order.
Inside a class, draws walk the class's shuffled row stream (cycled), so each row of the class is drawn
the floor or ceiling of its expected count too.
"""

from __future__ import annotations

import numpy as np

from admet_hpo.sampling.grouping import ClassLayout, occurrence_rank, sort_type


def systematic_counts(
    expected: np.ndarray, group_starts: np.ndarray, totals: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Integer counts per entry, the floor or ceiling of ``expected``, summing to each group's total.

    Args:
        expected: ``(n,)`` expected counts >= 0; group g is ``expected[group_starts[g]:group_starts[g+1]]``
            and its entries sum to ``totals[g]`` (up to rounding).
        group_starts: ``(G + 1,)`` non-decreasing offsets from 0 to n.
        totals: ``(G,)`` integer draws per group.
        u: ``(G,)`` uniforms in [0, 1), one per group.

    Group g's draws sit at the points ``u_g, u_g + 1, ..., u_g + totals[g] - 1`` of the line on which
    entry i spans the cumulative expected counts ``[C_{i-1}, C_i)``: an entry gets the number of points
    in its span. Integer expected counts are reproduced exactly.
    """
    expected = np.asarray(expected, dtype=np.float64)
    starts = np.asarray(group_starts, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.float64)
    sizes = np.diff(starts)
    group = np.repeat(np.arange(sizes.size), sizes)
    cumulative = np.cumsum(expected)
    before = np.concatenate(([0.0], cumulative))[starts[:-1]]
    within = np.minimum(cumulative - before[group], totals[group])
    # A group's last entry with a positive expectation closes it at exactly its total, and so do the
    # zero entries after it (they get no draw: rounding in the sums can never hand them one).
    index = np.arange(expected.size)
    last_positive = np.full(sizes.size, -1, dtype=np.int64)
    np.maximum.at(last_positive, group, np.where(expected > 0, index, -1))
    closed = index >= last_positive[group]
    within[closed] = totals[group][closed]
    whole = np.floor(within)
    # ceil(within - u), exactly: the float subtraction would round for u close to 1.
    upper = whole + (within - whole > np.asarray(u, dtype=np.float64)[group])
    lower = np.concatenate(([0.0], upper[:-1]))
    lower[starts[:-1][sizes > 0]] = 0.0  # ceil(0 - u) = 0: a group's first span starts at 0
    return (upper - lower).astype(np.int64)


def shuffled_within_groups(
    values: np.ndarray, slot_group: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Hand ``values`` (listed group by group, in group order) out to the slots of each group at random.

    ``slot_group[j]`` is slot j's group; group g must have as many slots as ``values`` has entries of g.
    Returns an array shaped like ``slot_group``: a uniformly random matching inside every group (each
    group's values shuffled in place, one contiguous piece per group, then laid on the group's slots).
    """
    flat = np.asarray(slot_group).ravel()
    if flat.size != values.size:
        raise ValueError(f"{values.size} values for {flat.size} slots")
    n_groups = int(flat.max(initial=-1)) + 1
    order = np.argsort(flat.astype(sort_type(n_groups)), kind="stable")
    shuffled = np.array(values, copy=True)
    ends = np.cumsum(np.bincount(flat, minlength=n_groups)).tolist()
    for start, end in zip([0, *ends[:-1]], ends, strict=True):
        if end - start > 1:
            rng.shuffle(shuffled[start:end])
    out = np.empty(flat.size, dtype=shuffled.dtype)
    out[order] = shuffled
    return out.reshape(np.shape(slot_group))


def stream_rows(layout: ClassLayout, classes: np.ndarray, streams: np.ndarray) -> np.ndarray:
    """The row of each draw of ``classes``: the class's next row in its epoch stream, cycled.

    ``streams`` is :meth:`ClassLayout.shuffled_rows`; the j-th draw (in order) of class k takes row
    ``j mod size_k`` of k's stream, so a class drawn ``m`` times uses each row ``floor`` or ``ceil`` of
    ``m / size_k`` times.
    """
    rank = occurrence_rank(classes, layout.n_classes)
    return streams[layout.starts[classes] + rank % layout.sizes[classes]]
