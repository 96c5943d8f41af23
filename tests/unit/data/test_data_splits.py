"""Splits: whole molecules (and scaffolds) per part, seeded, hashed, and column splits checked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from admet_hpo.data.hashing import table_content_hash
from admet_hpo.data.loading import load_table
from admet_hpo.data.splits import split_table
from admet_hpo.data.table import MoleculeTable, SplitIndices, TableSpec
from admet_hpo.errors import DataValidationError

# Pairs of different SMILES strings for one molecule (same InChIKey): tautomers and spellings.
POOL = [
    "CCO", "OCC", "c1ccccc1O", "Oc1ccccc1", "CC(=O)O", "OC(C)=O", "c1ccncc1", "n1ccccc1",
    "Cc1ccccc1", "Oc1ccccn1", "O=c1cccc[nH]1", "CCN", "CCCC", "CC(C)C", "c1ccc2ccccc2c1",
    "C1CCCCC1", "C1CCNCC1", "CC1CCCCC1", "Nc1ccccc1", "O=C(O)c1ccccc1", "c1ccsc1", "c1ccoc1",
    "CC(=O)Nc1ccccc1", "c1ccc(-c2ccccc2)cc1", "C1CCOC1", "OCC(O)CO", "CCOC(C)=O", "Clc1ccccc1",
]  # fmt: skip


def make_table(smiles: list[str]) -> MoleculeTable:
    n = len(smiles)
    targets = np.arange(n, dtype=float)[:, None]
    smiles_array = np.array(smiles, dtype=object)
    return MoleculeTable(
        source="memory.csv",
        smiles=smiles_array,
        targets=targets,
        target_names=("y",),
        lines=np.arange(n) + 2,
        content_hash=table_content_hash(smiles_array, targets, ("y",), None, None, None, None),
    )


def part_of_rows(split: SplitIndices, n: int) -> np.ndarray:
    part = np.full(n, -1)
    for k, rows in enumerate((split.train, split.val, split.test)):
        assert (part[rows] == -1).all(), "a row is in two parts"
        part[rows] = k
    assert (part >= 0).all(), "a row is in no part"
    return part


def assert_grouped(keys: list[str], part: np.ndarray) -> None:
    for key in set(keys):
        parts = {int(part[i]) for i, other in enumerate(keys) if other == key}
        assert len(parts) == 1, f"{key} straddles parts {parts}"


def inchikeys(smiles) -> list[str]:
    return [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in smiles]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=3, max_size=60),
    method=st.sampled_from(["scaffold", "random"]),
    seed=st.integers(0, 10_000),
    sizes=st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)]),
)
def test_split_is_a_partition_that_keeps_molecules_whole_and_is_seeded(picks, method, seed, sizes) -> None:
    smiles = [POOL[i] for i in picks]
    table = make_table(smiles)
    split = split_table(table, method, sizes, seed)
    part = part_of_rows(split, len(smiles))
    assert_grouped(inchikeys(smiles), part)
    if method == "scaffold":
        scaffolds = [MurckoScaffold.MurckoScaffoldSmiles(smiles=s) for s in smiles]
        assert_grouped(scaffolds, part)
    for k, size in enumerate(sizes):
        if size == 0:
            assert not (part == k).any()
    again = split_table(table, method, sizes, seed)
    assert again.split_hash == split.split_hash
    np.testing.assert_array_equal(again.train, split.train)


def test_tautomers_and_spellings_of_one_molecule_share_a_part() -> None:
    smiles = ["Oc1ccccn1", "O=c1cccc[nH]1", "CCO", "OCC"] * 5 + POOL
    split = split_table(make_table(smiles), "random", (0.5, 0.25, 0.25), seed=3)
    part = part_of_rows(split, len(smiles))
    assert len({part[0], part[1]}) == 1 and len({part[2], part[3]}) == 1


def test_demo_scaffold_split_sizes_seed_and_hash(demo_table: MoleculeTable) -> None:
    n = len(demo_table)
    split = split_table(demo_table, "scaffold", (0.8, 0.1, 0.1), seed=0)
    assert abs(len(split.train) - 0.8 * n) <= 0.02 * n
    assert abs(len(split.val) - 0.1 * n) <= 0.02 * n
    assert len(split.test) > 0.05 * n
    part = part_of_rows(split, n)
    assert_grouped([MurckoScaffold.MurckoScaffoldSmiles(smiles=s) for s in demo_table.smiles], part)
    assert_grouped(inchikeys(demo_table.smiles), part)
    other_seed = split_table(demo_table, "scaffold", (0.8, 0.1, 0.1), seed=1)
    assert other_seed.split_hash != split.split_hash
    assert split_table(demo_table, "random", (0.8, 0.1, 0.1), seed=0).split_hash != split.split_hash


def test_scaffold_split_puts_the_largest_scaffolds_in_train(demo_table: MoleculeTable) -> None:
    split = split_table(demo_table, "scaffold", (0.8, 0.1, 0.1), seed=5)
    scaffolds = np.array([MurckoScaffold.MurckoScaffoldSmiles(smiles=s) for s in demo_table.smiles])
    names, counts = np.unique(scaffolds, return_counts=True)
    biggest = names[np.argmax(counts)]
    assert set(np.flatnonzero(scaffolds == biggest)) <= set(split.train)


def test_column_split_follows_the_column(write_csv) -> None:
    path = write_csv("smiles,y,split\nCCO,1,train\nCCN,2,val\nCCC,3,test\nOCC,4,train\nc1ccccc1,5,train\n")
    table = load_table(path, TableSpec(target_cols=("y",), split_col="split"))
    split = split_table(table, "column", split_col="split")
    assert (split.train.tolist(), split.val.tolist(), split.test.tolist()) == ([0, 3, 4], [1], [2])


def test_column_split_rejects_a_molecule_in_two_parts(write_csv) -> None:
    path = write_csv("smiles,y,fold\nCCO,1,train\nCCN,2,val\nOCC,3,test\n")
    table = load_table(path, TableSpec(target_cols=("y",), split_col="fold"))
    with pytest.raises(
        DataValidationError,
        match=r"table\.csv: column 'fold': 1 molecule\(s\) with records in more than one split, first 'CCO' "
        r"at lines 2, 4 \(train at line 2, test at line 4\)",
    ):
        split_table(table, "column", split_col="fold")


def test_column_split_needs_the_split_column(demo_table: MoleculeTable) -> None:
    with pytest.raises(
        DataValidationError, match=r"split method 'column' needs a split column; set data\.split_col"
    ):
        split_table(demo_table, "column")


def test_column_split_with_crossing_allowed_keeps_the_column_and_warns(write_csv, caplog) -> None:
    path = write_csv("smiles,y,fold\nCCO,1,train\nCCN,2,val\nOCC,3,test\nCCN,4,train\nCCC,5,train\n")
    table = load_table(path, TableSpec(target_cols=("y",), split_col="fold"))
    with caplog.at_level("WARNING", logger="admet_hpo.data.splits"):
        split = split_table(table, "column", split_col="fold", molecules_may_cross=True)
    assert (split.train.tolist(), split.val.tolist(), split.test.tolist()) == ([0, 3, 4], [1], [2])
    assert "2 molecule(s) have records in more than one split" in caplog.text


def test_column_split_without_crossing_molecules_does_not_warn(write_csv, caplog) -> None:
    path = write_csv("smiles,y,fold\nCCO,1,train\nCCN,2,val\nCCC,3,test\n")
    table = load_table(path, TableSpec(target_cols=("y",), split_col="fold"))
    with caplog.at_level("WARNING", logger="admet_hpo.data.splits"):
        split_table(table, "column", split_col="fold", molecules_may_cross=True)
    assert caplog.text == ""
