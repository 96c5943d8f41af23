"""Rows grouped into weight classes: compact class ids, rows sorted by class, per-epoch class streams.

A weight class is a set of rows that always share one weight (same primary task and quality, and, in the
batch sampler, the same experiment and condition). Epoch draws then work on a few thousand classes
instead of a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sort_type(n_values: int) -> type[np.unsignedinteger]:
    """Smallest unsigned type for codes 0..n_values-1; <= 16 bits makes stable argsort a radix sort."""
    for kind in (np.uint8, np.uint16, np.uint32):
        if n_values <= np.iinfo(kind).max + 1:
            return kind
    return np.uint64


@dataclass(frozen=True)
class ClassLayout:
    """Rows of classes ``0..K-1`` laid out class by class.

    ``class_of_row[i]`` is row i's class (-1: in no class). ``keys[k]`` is the dense key class k was made
    from (keys are numbered in increasing order, so classes keep the order of their keys). ``rows`` lists
    the member rows class by class (ascending row order inside a class); class k occupies
    ``rows[starts[k]:starts[k] + sizes[k]]``.
    """

    class_of_row: np.ndarray
    keys: np.ndarray
    sizes: np.ndarray
    starts: np.ndarray
    rows: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.sizes.size)

    @classmethod
    def from_keys(cls, keys: np.ndarray, n_keys: int, member: np.ndarray) -> ClassLayout:
        """Classes = the distinct values of ``keys`` (dense codes < ``n_keys``) over rows where ``member``."""
        member_rows = np.flatnonzero(member)
        member_keys = np.asarray(keys)[member_rows]
        dense_sizes = np.bincount(member_keys, minlength=n_keys)
        present = np.flatnonzero(dense_sizes)
        compact = np.full(n_keys, -1, dtype=np.int64)
        compact[present] = np.arange(present.size)
        class_of_row = np.full(np.shape(keys), -1, dtype=np.int64)
        member_classes = compact[member_keys]
        class_of_row[member_rows] = member_classes
        order = np.argsort(member_classes.astype(sort_type(present.size)), kind="stable")
        sizes = dense_sizes[present]
        starts = (np.cumsum(sizes) - sizes).astype(np.int64)
        return cls(class_of_row, present, sizes, starts, member_rows[order])

    def shuffled_rows(self, rng: np.random.Generator) -> np.ndarray:
        """``rows`` with each class's rows in a fresh random order (its epoch stream).

        One in-place shuffle per class: O(N) work in cache-friendly pieces, O(K) Python steps.
        """
        streams = self.rows.copy()
        for start, size in zip(self.starts.tolist(), self.sizes.tolist(), strict=True):
            rng.shuffle(streams[start : start + size])
        return streams


def occurrence_rank(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """For each position, how many earlier positions hold the same class (0 for the first)."""
    flat = np.asarray(classes).ravel()
    order = np.argsort(flat.astype(sort_type(n_classes)), kind="stable")
    counts = np.bincount(flat, minlength=n_classes)
    first = np.cumsum(counts) - counts
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = np.arange(flat.size) - first[flat[order]]
    return rank.reshape(np.shape(classes))
