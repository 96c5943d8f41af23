"""Integer quotas that follow ratios exactly: largest-remainder (Hamilton) rounding."""

from __future__ import annotations

import numpy as np


def largest_remainder(total: int, ratios: np.ndarray) -> np.ndarray:
    """Split ``total`` over the last axis of ``ratios`` (>= 0) in proportion, as integers summing to it.

    Each entry gets ``floor(total * r / sum r)``; the units left over go to the largest fractional
    parts (ties: the lower index). A row whose ratios sum to 0 gets all zeros.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    sums = ratios.sum(axis=-1, keepdims=True)
    exact = np.divide(total * ratios, sums, out=np.zeros_like(ratios), where=sums > 0)
    base = np.floor(exact).astype(np.int64)
    left = total - base.sum(axis=-1, keepdims=True)
    order = np.argsort(-(exact - base), axis=-1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(ratios.shape[-1]), axis=-1)
    quotas = base + (place < left)
    return np.where(sums > 0, quotas, 0)
