"""Molecule identities of a table: computed once per set of molecules, then read from the cache file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from admet_hpo.data import identity_cache
from admet_hpo.data.identity_cache import IdentityCache
from admet_hpo.data.molecule_cache import clear_memory
from admet_hpo.data.molecules import molecule_key, murcko_scaffold
from admet_hpo.data.splits import split_table
from admet_hpo.data.table import MoleculeTable

pytestmark = pytest.mark.usefixtures("forget_molecules")

SMILES = ["CCO", "OCC", "c1ccccc1O", "CCO", "C1CCNCC1C(=O)O", "not a smiles"]


def test_identities_equal_the_per_molecule_functions_row_by_row(tmp_path: Path) -> None:
    keys, scaffolds = IdentityCache(tmp_path).of(SMILES)
    assert list(keys) == [molecule_key(s) for s in SMILES]
    assert list(scaffolds) == [murcko_scaffold(s) for s in SMILES]
    assert keys[0] == keys[1] == keys[3]  # one molecule, two spellings
    assert keys.dtype == object and scaffolds.dtype == object


def test_a_new_process_reads_the_file_instead_of_parsing(tmp_path: Path) -> None:
    first = IdentityCache(tmp_path)
    expected = first.of(SMILES)
    assert first.computed == len(set(SMILES))
    assert len(list((tmp_path / "identities").glob("*.npz"))) == 1
    clear_memory()  # as a new worker process would start
    again = IdentityCache(tmp_path)
    got = again.of(list(reversed(SMILES)))
    assert again.computed == 0
    for got_part, expected_part in zip(got, expected, strict=True):
        assert list(got_part) == list(reversed(list(expected_part)))


def test_a_file_of_other_molecules_is_rebuilt(tmp_path: Path) -> None:
    cache = IdentityCache(tmp_path)
    cache.of(SMILES)
    (path,) = (tmp_path / "identities").glob("*.npz")
    np.savez(path, keys=np.array(["x"]), scaffolds=np.array([""]))
    clear_memory()
    rebuilt = IdentityCache(tmp_path)
    assert list(rebuilt.of(SMILES)[0]) == [molecule_key(s) for s in SMILES]
    assert rebuilt.computed == len(set(SMILES))


def test_splitting_twice_parses_the_molecules_once(
    demo_table: MoleculeTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMET_HPO_CACHE", str(tmp_path))  # an empty cache folder of its own
    calls: list[str] = []
    real = identity_cache.molecule_identity

    def counting(smiles: str) -> tuple[str, str]:
        calls.append(smiles)
        return real(smiles)

    monkeypatch.setattr(identity_cache, "molecule_identity", counting)
    first = split_table(demo_table, method="scaffold", seed=0)
    clear_memory()
    second = split_table(demo_table, method="scaffold", seed=0)
    assert len(calls) == len(set(demo_table.smiles))
    assert first.split_hash == second.split_hash
