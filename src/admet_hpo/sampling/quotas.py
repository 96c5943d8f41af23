"""Integer quotas that follow ratios exactly: largest-remainder (Hamilton) rounding (SPEC 2.4, 2.7.3)."""

from __future__ import annotations

import numpy as np


def _exact_shares(total: int, ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``total * r / sum r`` per entry, its floor, and the row sums of ``ratios`` (keepdims)."""
    sums = ratios.sum(axis=-1, keepdims=True)
    exact = np.divide(total * ratios, sums, out=np.zeros_like(ratios), where=sums > 0)
    return exact, np.floor(exact), sums


def largest_remainder(total: int, ratios: np.ndarray, tie_keys: np.ndarray | None = None) -> np.ndarray:
    """Split ``total`` over the last axis of ``ratios`` (>= 0) in proportion, as integers summing to it.

    Each entry gets ``floor(total * r / sum r)``; the units left over go to the largest fractional
    parts. Equal fractional parts are ordered by ``tie_keys`` (same shape as ``ratios``, smaller key
    first; the samplers pass seeded uniforms, a random order per batch), or by the lower index when
    ``tie_keys`` is None. A row whose ratios sum to 0 gets all zeros.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    exact, floor, sums = _exact_shares(total, ratios)
    base = floor.astype(np.int64)
    left = total - base.sum(axis=-1, keepdims=True)
    remainder = exact - floor
    if tie_keys is None:
        order = np.argsort(-remainder, axis=-1, kind="stable")
    else:
        order = np.lexsort((np.broadcast_to(tie_keys, ratios.shape), -remainder), axis=-1)
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(ratios.shape[-1]), axis=-1)
    quotas = base + (place < left)
    return np.where(sums > 0, quotas, 0)


def expected_largest_remainder(total: int, ratios: np.ndarray) -> np.ndarray:
    """The mean of :func:`largest_remainder` over uniformly random tie orders (floats, same shape).

    An entry whose fractional part is larger than ``g`` others and equal to ``e`` others (itself
    included) gets a left-over unit with probability ``clip((left - g) / e, 0, 1)``.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    exact, floor, sums = _exact_shares(total, ratios)
    left = total - floor.sum(axis=-1, keepdims=True)
    remainder = exact - floor
    greater = (remainder[..., None, :] > remainder[..., :, None]).sum(axis=-1)
    equal = (remainder[..., None, :] == remainder[..., :, None]).sum(axis=-1)
    extra = np.clip((left - greater) / equal, 0.0, 1.0)
    return np.where(sums > 0, floor + extra, 0.0)
