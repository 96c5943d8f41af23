"""Per-molecule-set caches: compute something for a table's distinct SMILES once, reuse it everywhere.

What is computed from molecules alone (graphs, descriptors) depends only on the set of distinct SMILES
strings and on how it is computed, so the cache key is the sha256 of an identity of the computation
(:meth:`MoleculeSetCache.identity`: classes, sizes, library versions) plus the sorted distinct SMILES;
every table with the same molecules (whatever its targets, row order or duplicates) shares one entry.
Three levels:

1. a process-wide in-memory map per kind of value (its last ``memory_entries`` keys), so every trial in
   a worker process reuses the values of the first;
2. a file ``<cache_dir>/<subdir>/<key>.npz`` (plain arrays, no pickle), written atomically via a
   temporary file and a rename, so workers in other processes read it instead of computing;
3. computing the values of the distinct SMILES (what :attr:`MoleculeSetCache.computed` counts).

A cache file that cannot be read, or holds the wrong number of molecules, is logged and rebuilt; a file
that cannot be written is logged and skipped.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from admet_hpo.data.storage import atomic_write, resolve_cache_dir

logger = logging.getLogger(__name__)

V = TypeVar("V")


class MoleculeSetCache(ABC, Generic[V]):
    """The value of a set of distinct SMILES (see the module docstring); subclasses say how it is
    computed, identified and stored.

    ``cache_dir=None`` uses :func:`admet_hpo.data.storage.resolve_cache_dir`; ``persist=False`` keeps
    the cache in memory only. ``computed`` counts the molecules this object had to compute itself.
    """

    #: Folder under the cache directory.
    subdir: ClassVar[str]
    #: How many keys the process-wide memory keeps.
    memory_entries: ClassVar[int]
    #: The process-wide memory of this kind of value (one map per subclass).
    memory: ClassVar[OrderedDict[str, object]]

    def __init__(self, cache_dir: Path | str | None = None, persist: bool = True) -> None:
        self.directory = resolve_cache_dir(cache_dir) / self.subdir if persist else None
        self.computed = 0

    @abstractmethod
    def identity(self) -> str:
        """What the values depend on besides the molecules (classes, sizes, library versions)."""

    @abstractmethod
    def compute(self, distinct: np.ndarray) -> V:
        """The value for the sorted distinct SMILES ``distinct`` (all parseable)."""

    @abstractmethod
    def to_arrays(self, value: V) -> dict[str, np.ndarray]:
        """``value`` as named plain arrays for the cache file."""

    @abstractmethod
    def from_arrays(self, arrays: np.lib.npyio.NpzFile, expected: int) -> V:
        """The value stored in a cache file of ``expected`` molecules; ValueError / KeyError when the
        file does not hold such a value."""

    def key(self, distinct_smiles: np.ndarray) -> str:
        """The cache key of a sorted array of distinct SMILES strings under this computation."""
        digest = hashlib.sha256(self.identity().encode())
        digest.update("\x1f".join(distinct_smiles).encode())
        return digest.hexdigest()[:32]

    def lookup(self, distinct: np.ndarray) -> V:
        """The value of the sorted distinct SMILES ``distinct``: from memory, the cache file, or computed
        (and then written)."""
        key = self.key(distinct)
        value = self.memory.get(key)
        if value is None:
            value = self._read(key, len(distinct))
            if value is None:
                value = self.compute(distinct)
                self.computed += len(distinct)
                self._write(key, value)
            self.memory[key] = value
            while len(self.memory) > self.memory_entries:
                self.memory.popitem(last=False)
        self.memory.move_to_end(key)
        return value  # type: ignore[return-value]

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.npz"

    def _read(self, key: str, expected: int) -> V | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return self.from_arrays(stored, expected)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            logger.warning("cache file %s is unreadable (%s); computing again", path, exc)
            return None

    def _write(self, key: str, value: V) -> None:
        path = self._path(key)
        if path is None:
            return
        arrays = self.to_arrays(value)
        try:
            atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        except OSError as exc:
            logger.warning("cannot write cache file %s (%s); continuing without it", path, exc)


def distinct_smiles(smiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct SMILES strings of ``smiles`` and, per entry, its index among them."""
    return np.unique(np.asarray(smiles).astype(str), return_inverse=True)


def clear_memory() -> None:
    """Forget every value the caches of this process hold in memory (their files are kept), as a new
    process would start: what measuring a cold start needs (``benchmarks/cost_study.py``)."""
    pending = list(MoleculeSetCache.__subclasses__())
    while pending:
        cache_class = pending.pop()
        cache_class.memory.clear()
        pending.extend(cache_class.__subclasses__())
