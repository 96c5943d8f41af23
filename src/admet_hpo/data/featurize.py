"""Featurisation cache: SMILES -> chemprop ``MolGraph``, computed once and shared (SPEC section 1).

Graphs depend only on the molecules and the featurizer: :class:`FeatureCache` is a
:class:`~admet_hpo.data.molecule_cache.MoleculeSetCache` (one key per set of distinct SMILES and
featurizer id: its classes, feature sizes and the chemprop version; kept in memory for the last
:data:`MEMORY_ENTRIES` keys, on disk under ``<cache_dir>/features/``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import ClassVar

import chemprop
import numpy as np
from chemprop.data import MolGraph
from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

from admet_hpo.data.molecule_cache import MoleculeSetCache, distinct_smiles
from admet_hpo.data.molecules import parse_smiles
from admet_hpo.data.table import MoleculeTable

MEMORY_ENTRIES = 4
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


class FeatureCache(MoleculeSetCache[list[MolGraph]]):
    """Graphs for the rows of tables, cached in memory and under ``cache_dir`` (see module docstring).

    ``cache_dir=None`` uses :func:`admet_hpo.data.storage.resolve_cache_dir`; ``persist=False`` keeps the
    cache in memory only. ``featurized`` counts molecules this object had to featurise itself.
    """

    subdir: ClassVar[str] = "features"
    memory_entries: ClassVar[int] = MEMORY_ENTRIES
    memory: ClassVar[OrderedDict[str, object]] = OrderedDict()

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        featurizer: SimpleMoleculeMolGraphFeaturizer | None = None,
        persist: bool = True,
    ) -> None:
        super().__init__(cache_dir, persist)
        self.featurizer = featurizer if featurizer is not None else SimpleMoleculeMolGraphFeaturizer()

    @property
    def featurized(self) -> int:
        """Molecules this object featurised itself (neither in memory nor on disk)."""
        return self.computed

    def identity(self) -> str:
        return featurizer_id(self.featurizer)

    def graphs(self, table: MoleculeTable) -> list[MolGraph]:
        """One graph per row of ``table`` (rows with the same SMILES share one graph object)."""
        distinct, row_to_distinct = distinct_smiles(table.smiles)
        if len(distinct) == 0:
            return []
        graphs = self.lookup(distinct)
        return [graphs[i] for i in row_to_distinct]

    def compute(self, distinct: np.ndarray) -> list[MolGraph]:
        graphs = []
        for smiles in distinct:
            mol = parse_smiles(smiles)
            if mol is None:
                raise ValueError(
                    f"cannot featurise unparsable SMILES {smiles!r}; load tables with load_table"
                )
            graphs.append(self.featurizer(mol))
        return graphs

    def to_arrays(self, value: list[MolGraph]) -> dict[str, np.ndarray]:
        return _pack(value)

    def from_arrays(self, arrays: np.lib.npyio.NpzFile, expected: int) -> list[MolGraph]:
        graphs = _unpack({name: arrays[name] for name in (*_FIELDS, "n_atoms", "n_edges")})
        if len(graphs) != expected:
            raise ValueError(f"it holds {len(graphs)} graphs, expected {expected}")
        return graphs
