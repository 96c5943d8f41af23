"""Featurisation cache: SMILES -> chemprop ``MolGraph``, computed once and shared (SPEC section 1).

Graphs depend only on the molecules and the featurizer, so the cache key is the sha256 of the table's
set of distinct SMILES strings plus an id of the featurizer (its classes, feature sizes and the chemprop
version); every table with the same molecules (whatever its targets, row order or duplicates) shares one
entry. Three levels:

1. a process-wide in-memory map (the last :data:`MEMORY_ENTRIES` keys), so every trial in a worker
   process reuses the graphs of the first;
2. a file ``<cache_dir>/features/<key>.npz`` (plain arrays, no pickle), written atomically via a
   temporary file and a rename, so workers in other processes read it instead of featurising;
3. featurising the distinct SMILES with the featurizer (what :attr:`FeatureCache.featurized` counts).

A cache file that cannot be read is logged and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections import OrderedDict
from pathlib import Path

import chemprop
import numpy as np
from chemprop.data import MolGraph
from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

from admet_hpo.data.molecules import parse_smiles
from admet_hpo.data.storage import atomic_write, resolve_cache_dir
from admet_hpo.data.table import MoleculeTable

logger = logging.getLogger(__name__)

MEMORY_ENTRIES = 4
_MEMORY: OrderedDict[str, list[MolGraph]] = OrderedDict()
_FIELDS = ("V", "E", "edge_index", "rev_edge_index")


def featurizer_id(featurizer: SimpleMoleculeMolGraphFeaturizer) -> str:
    """What graphs depend on besides the molecules: featurizer classes, feature sizes, chemprop version."""
    parts = (
        type(featurizer).__qualname__,
        type(featurizer.atom_featurizer).__qualname__,
        type(featurizer.bond_featurizer).__qualname__,
        *map(str, featurizer.shape),
        chemprop.__version__,
    )
    return "|".join(parts)


def _pack(graphs: list[MolGraph]) -> dict[str, np.ndarray]:
    arrays = {name: np.concatenate([getattr(g, name) for g in graphs], axis=0) for name in ("V", "E")}
    arrays["edge_index"] = np.concatenate([g.edge_index for g in graphs], axis=1)
    arrays["rev_edge_index"] = np.concatenate([g.rev_edge_index for g in graphs])
    arrays["n_atoms"] = np.array([g.V.shape[0] for g in graphs], dtype=np.int64)
    arrays["n_edges"] = np.array([g.E.shape[0] for g in graphs], dtype=np.int64)
    return arrays


def _unpack(arrays: dict[str, np.ndarray]) -> list[MolGraph]:
    atom_cuts = np.cumsum(arrays["n_atoms"])[:-1]
    edge_cuts = np.cumsum(arrays["n_edges"])[:-1]
    return [
        MolGraph(V, E, edge_index, rev)
        for V, E, edge_index, rev in zip(
            np.split(arrays["V"], atom_cuts),
            np.split(arrays["E"], edge_cuts),
            np.split(arrays["edge_index"], edge_cuts, axis=1),
            np.split(arrays["rev_edge_index"], edge_cuts),
            strict=True,
        )
    ]


class FeatureCache:
    """Graphs for the rows of tables, cached in memory and under ``cache_dir`` (see module docstring).

    ``cache_dir=None`` uses :func:`admet_hpo.data.storage.resolve_cache_dir`; ``persist=False`` keeps the
    cache in memory only. ``featurized`` counts molecules this object had to featurise itself.
    """

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        featurizer: SimpleMoleculeMolGraphFeaturizer | None = None,
        persist: bool = True,
    ) -> None:
        self.featurizer = featurizer if featurizer is not None else SimpleMoleculeMolGraphFeaturizer()
        self.directory = resolve_cache_dir(cache_dir) / "features" if persist else None
        self.featurized = 0

    def key(self, distinct_smiles: np.ndarray) -> str:
        """The cache key of a sorted array of distinct SMILES strings under this featurizer."""
        digest = hashlib.sha256(featurizer_id(self.featurizer).encode())
        digest.update("\x1f".join(distinct_smiles).encode())
        return digest.hexdigest()[:32]

    def graphs(self, table: MoleculeTable) -> list[MolGraph]:
        """One graph per row of ``table`` (rows with the same SMILES share one graph object)."""
        distinct, row_to_distinct = np.unique(table.smiles.astype(str), return_inverse=True)
        if len(distinct) == 0:
            return []
        key = self.key(distinct)
        graphs = _MEMORY.get(key)
        if graphs is None:
            graphs = self._read(key, len(distinct))
            if graphs is None:
                graphs = self._featurize(distinct)
                self._write(key, graphs)
            _MEMORY[key] = graphs
            while len(_MEMORY) > MEMORY_ENTRIES:
                _MEMORY.popitem(last=False)
        _MEMORY.move_to_end(key)
        return [graphs[i] for i in row_to_distinct]

    def _featurize(self, distinct: np.ndarray) -> list[MolGraph]:
        graphs = []
        for smiles in distinct:
            mol = parse_smiles(smiles)
            if mol is None:
                raise ValueError(
                    f"cannot featurise unparsable SMILES {smiles!r}; load tables with load_table"
                )
            graphs.append(self.featurizer(mol))
        self.featurized += len(distinct)
        return graphs

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.npz"

    def _read(self, key: str, expected: int) -> list[MolGraph] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in (*_FIELDS, "n_atoms", "n_edges")}
            graphs = _unpack(arrays)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            logger.warning("feature cache %s is unreadable (%s); featurising again", path, exc)
            return None
        if len(graphs) != expected:
            logger.warning(
                "feature cache %s holds %d graphs, expected %d; featurising again",
                path,
                len(graphs),
                expected,
            )
            return None
        return graphs

    def _write(self, key: str, graphs: list[MolGraph]) -> None:
        path = self._path(key)
        if path is None:
            return
        arrays = _pack(graphs)
        try:
            atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        except OSError as exc:
            logger.warning("cannot write feature cache %s (%s); continuing without it", path, exc)


def clear_memory_cache() -> None:
    """Forget the graphs held in this process (the on-disk cache is kept)."""
    _MEMORY.clear()
