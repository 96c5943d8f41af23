"""Molecule identities of a table (molecule key and Murcko scaffold per row), computed once per set of
distinct SMILES and kept in the product cache under ``<cache_dir>/identities/``
(:class:`~admet_hpo.data.molecule_cache.MoleculeSetCache`).

Splitting a table needs both for every molecule (:mod:`admet_hpo.data.splits`), and computing them parses
every SMILES with RDKit (about 2 s for the 3,521 Biogen molecules on one core). With the cache, a study's
workers, and every later command on the same molecules, read them instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import rdkit

from admet_hpo.data.molecule_cache import MoleculeSetCache, distinct_smiles
from admet_hpo.data.molecules import molecule_identity

Identities = tuple[np.ndarray, np.ndarray]
"""(molecule keys, Murcko scaffolds): string arrays of equal length."""


class IdentityCache(MoleculeSetCache[Identities]):
    """:func:`~admet_hpo.data.molecules.molecule_identity` of sets of molecules, cached in memory and in
    files (see the module docstrings)."""

    subdir: ClassVar[str] = "identities"
    memory_entries: ClassVar[int] = 4
    memory: ClassVar[OrderedDict[str, object]] = OrderedDict()

    def identity(self) -> str:
        return f"inchikey+murcko-scaffold|rdkit {rdkit.__version__}"

    def compute(self, distinct: np.ndarray) -> Identities:
        keys, scaffolds = zip(*(molecule_identity(str(smiles)) for smiles in distinct), strict=True)
        return np.array(keys, dtype=str), np.array(scaffolds, dtype=str)

    def to_arrays(self, value: Identities) -> dict[str, np.ndarray]:
        return {"keys": value[0], "scaffolds": value[1]}

    def from_arrays(self, arrays: np.lib.npyio.NpzFile, expected: int) -> Identities:
        keys, scaffolds = arrays["keys"], arrays["scaffolds"]
        if keys.shape != (expected,) or scaffolds.shape != (expected,):
            raise ValueError(
                f"it holds {keys.shape} keys and {scaffolds.shape} scaffolds, expected {expected}"
            )
        return keys, scaffolds

    def of(self, smiles: Sequence[str] | np.ndarray) -> Identities:
        """Molecule keys and scaffolds of ``smiles``, one each per entry, as object arrays of ``str``."""
        distinct, row_to_distinct = distinct_smiles(np.asarray(smiles, dtype=object))
        if len(distinct) == 0:
            return np.empty(0, dtype=object), np.empty(0, dtype=object)
        keys, scaffolds = self.lookup(distinct)
        return keys[row_to_distinct].astype(object), scaffolds[row_to_distinct].astype(object)


def molecule_identities(smiles: Sequence[str] | np.ndarray) -> Identities:
    """Molecule keys and Murcko scaffolds of ``smiles`` through the default cache directory."""
    return IdentityCache().of(smiles)
