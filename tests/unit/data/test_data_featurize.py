"""Featurisation cache: featurise once, reuse in-process and from disk, datasets built from cached graphs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from chemprop.data import MoleculeDatapoint, MoleculeDataset, collate_batch
from chemprop.featurizers import MultiHotAtomFeaturizer, SimpleMoleculeMolGraphFeaturizer

from admet_hpo.data.datasets import build_molecule_dataset, build_split_datasets
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.splits import split_table
from admet_hpo.data.table import MoleculeTable


@dataclass
class CountingFeaturizer(SimpleMoleculeMolGraphFeaturizer):
    """The default featurizer, counting the molecules it featurises."""

    calls: int = 0

    def __call__(self, mol, atom_features_extra=None, bond_features_extra=None):
        self.calls += 1
        return super().__call__(mol, atom_features_extra, bond_features_extra)


pytestmark = pytest.mark.usefixtures("forget_molecules")


@pytest.fixture(scope="module")
def small_table(demo_table: MoleculeTable) -> MoleculeTable:
    rows = np.r_[np.arange(150), np.arange(20)]  # duplicated rows share SMILES
    return demo_table.subset(rows)


def n_distinct(table: MoleculeTable) -> int:
    return len(set(table.smiles))


def test_first_use_featurises_each_distinct_molecule_once(small_table: MoleculeTable, tmp_path: Path) -> None:
    featurizer = CountingFeaturizer()
    cache = FeatureCache(tmp_path, featurizer)
    graphs = cache.graphs(small_table)
    assert len(graphs) == len(small_table)
    assert featurizer.calls == cache.featurized == n_distinct(small_table)
    assert graphs[150] is graphs[0], "rows with the same SMILES share one graph"
    cache.graphs(small_table)
    assert featurizer.calls == n_distinct(small_table), "second use in the same process featurises nothing"
    files = list((tmp_path / "features").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz", "one cache file, no temporary leftovers"


def test_other_cache_objects_reuse_memory_then_disk(
    forget_molecules, small_table: MoleculeTable, tmp_path: Path
) -> None:
    original = FeatureCache(tmp_path, CountingFeaturizer()).graphs(small_table)
    in_memory = CountingFeaturizer()
    assert FeatureCache(tmp_path, in_memory).graphs(small_table)[3] is original[3]
    assert in_memory.calls == 0
    forget_molecules()
    from_disk = CountingFeaturizer()
    graphs = FeatureCache(tmp_path, from_disk).graphs(small_table)
    assert from_disk.calls == 0
    for mine, theirs in zip(graphs, original, strict=True):
        for field in ("V", "E", "edge_index", "rev_edge_index"):
            np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))


def test_targets_and_row_order_do_not_matter_for_the_key(
    forget_molecules, small_table: MoleculeTable, tmp_path: Path
) -> None:
    FeatureCache(tmp_path, CountingFeaturizer()).graphs(small_table)
    forget_molecules()
    changed = replace(
        small_table.subset(np.arange(len(small_table))[::-1]), targets=small_table.targets[::-1] + 1
    )
    featurizer = CountingFeaturizer()
    FeatureCache(tmp_path, featurizer).graphs(changed)
    assert featurizer.calls == 0


def test_another_featurizer_gets_its_own_entry(small_table: MoleculeTable, tmp_path: Path) -> None:
    FeatureCache(tmp_path, CountingFeaturizer()).graphs(small_table)
    v1 = CountingFeaturizer(atom_featurizer=MultiHotAtomFeaturizer.v1())
    graphs = FeatureCache(tmp_path, v1).graphs(small_table)
    assert v1.calls == n_distinct(small_table)
    assert graphs[0].V.shape[1] == v1.atom_fdim
    assert len(list((tmp_path / "features").iterdir())) == 2


def test_memory_only_cache_writes_nothing(
    forget_molecules, small_table: MoleculeTable, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ADMET_HPO_CACHE", str(tmp_path))
    FeatureCache(persist=False, featurizer=CountingFeaturizer()).graphs(small_table)
    forget_molecules()
    again = CountingFeaturizer()
    FeatureCache(persist=False, featurizer=again).graphs(small_table)
    assert again.calls == n_distinct(small_table)
    assert not (tmp_path / "features").exists()


def test_unreadable_cache_file_is_rebuilt(
    forget_molecules, small_table: MoleculeTable, tmp_path: Path, caplog
) -> None:
    FeatureCache(tmp_path, CountingFeaturizer()).graphs(small_table)
    (cache_file,) = (tmp_path / "features").iterdir()
    cache_file.write_bytes(b"not a zip file")
    forget_molecules()
    featurizer = CountingFeaturizer()
    with caplog.at_level(logging.WARNING, logger="admet_hpo.data.featurize"):
        FeatureCache(tmp_path, featurizer).graphs(small_table)
    assert featurizer.calls == n_distinct(small_table)
    assert "is unreadable" in caplog.text
    forget_molecules()
    repaired = CountingFeaturizer()
    FeatureCache(tmp_path, repaired).graphs(small_table)
    assert repaired.calls == 0


def test_dataset_matches_chemprops_own_featurisation(small_table: MoleculeTable, tmp_path: Path) -> None:
    rows = np.array([5, 0, 149, 160])
    dataset = build_molecule_dataset(small_table, rows, FeatureCache(tmp_path))
    assert isinstance(dataset, MoleculeDataset) and len(dataset) == 4
    np.testing.assert_array_equal(dataset.Y, small_table.targets[rows])
    reference = MoleculeDataset(
        [MoleculeDatapoint.from_smi(str(small_table.smiles[i]), y=small_table.targets[i]) for i in rows]
    )
    ours, theirs = (
        collate_batch([dataset[i] for i in range(4)]),
        collate_batch([reference[i] for i in range(4)]),
    )
    for field in ("V", "E", "edge_index", "rev_edge_index", "batch"):
        assert torch.equal(getattr(ours.bmg, field), getattr(theirs.bmg, field)), field
    assert torch.equal(torch.nan_to_num(ours.Y, -99.0), torch.nan_to_num(theirs.Y, -99.0))


def test_split_datasets_train_without_featurising_again(small_table: MoleculeTable, tmp_path: Path) -> None:
    featurizer = CountingFeaturizer()
    split = split_table(small_table, "random", (0.6, 0.2, 0.2), seed=0)
    train, val, test = build_split_datasets(small_table, split, FeatureCache(tmp_path, featurizer))
    assert (len(train), len(val), len(test)) == (len(split.train), len(split.val), len(split.test))
    calls = featurizer.calls
    train.normalize_targets()
    loader = torch.utils.data.DataLoader(
        train, batch_sampler=[list(range(8)), list(range(8, 16))], collate_fn=collate_batch
    )
    batches = list(loader)
    assert [len(batch.bmg) for batch in batches] == [8, 8]
    assert featurizer.calls == calls, "iterating the dataset uses the cached graphs"
