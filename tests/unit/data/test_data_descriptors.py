"""Molecule descriptors: chemprop's featurizers, cleaned of NaN/inf, computed once per molecule set."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
from chemprop.featurizers import MorganCountFeaturizer, RDKit2DFeaturizer
from rdkit import Chem

from admet_hpo.config.training import ModelConfig
from admet_hpo.data.descriptors import (
    DESCRIPTOR_SETS,
    DescriptorCache,
    clean_descriptors,
    molecule_descriptors,
)

SMILES = ["CCO", "c1ccccc1O", "CCO", "CC(=O)Nc1ccc(O)cc1"]


pytestmark = pytest.mark.usefixtures("forget_molecules")


def test_every_config_choice_is_a_descriptor_set() -> None:
    choices = typing.get_args(ModelConfig.model_fields["descriptors"].annotation)
    assert set(choices) == set(DESCRIPTOR_SETS)


def test_values_are_chemprops_featurizers_and_repeats_share_rows(tmp_path: Path) -> None:
    both = molecule_descriptors(SMILES, "rdkit2d+morgan_count", tmp_path)
    assert both is not None and both.dtype == np.float32
    rdkit2d, morgan = RDKit2DFeaturizer(), MorganCountFeaturizer()
    assert both.shape == (4, len(rdkit2d) + len(morgan))
    mol = Chem.MolFromSmiles("c1ccccc1O")
    expected = np.concatenate([rdkit2d(mol), morgan(mol)]).astype(np.float32)
    np.testing.assert_array_equal(both[1], expected)
    np.testing.assert_array_equal(both[0], both[2])
    assert molecule_descriptors(SMILES, "none", tmp_path) is None


def test_computed_once_per_molecule_set_then_read_from_memory_and_disk(
    forget_molecules, tmp_path: Path
) -> None:
    first = DescriptorCache("morgan_count", tmp_path)
    values = first.matrix(SMILES)
    assert first.computed == 3, "three distinct molecules"
    again = DescriptorCache("morgan_count", tmp_path)
    np.testing.assert_array_equal(again.matrix(SMILES[::-1])[::-1], values)
    assert again.computed == 0
    forget_molecules()
    from_disk = DescriptorCache("morgan_count", tmp_path)
    np.testing.assert_array_equal(from_disk.matrix(SMILES), values)
    assert from_disk.computed == 0
    assert [p.suffix for p in (tmp_path / "descriptors").iterdir()] == [".npz"]
    other = DescriptorCache("morgan_binary", tmp_path)
    other.matrix(SMILES)
    assert other.computed == 3, "another descriptor set is another entry"


def test_nan_inf_and_float32_overflow_become_zero_and_are_counted() -> None:
    values, replaced = clean_descriptors(np.array([[1.5, np.nan, np.inf], [-np.inf, 1e300, -2.0]]))
    assert replaced == 4 and values.dtype == np.float32
    np.testing.assert_array_equal(values, [[1.5, 0, 0], [0, 0, -2.0]])


class Broken:
    """A featurizer whose second value is NaN and third infinite, for every molecule."""

    def __len__(self) -> int:
        return 3

    def __call__(self, mol) -> np.ndarray:
        return np.array([mol.GetNumAtoms(), np.nan, np.inf])


def test_a_featurizer_giving_nan_is_cleaned_and_logged(tmp_path: Path, caplog) -> None:
    cache = DescriptorCache("rdkit2d", tmp_path, persist=False)
    cache.featurizers = [Broken()]
    with caplog.at_level("WARNING", logger="admet_hpo.data.descriptors"):
        values = cache.matrix(["CCO", "c1ccccc1"])
    np.testing.assert_array_equal(values, [[3, 0, 0], [6, 0, 0]])
    assert "4 value(s) of 2 molecule(s) were NaN, infinite or too large and are set to 0" in caplog.text


def test_unknown_set_and_unparsable_smiles_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown descriptor set 'maccs'; expected one of rdkit2d, morgan"):
        DescriptorCache("maccs", tmp_path)
    with pytest.raises(ValueError, match=r"unparsable SMILES 'C1CC'"):
        molecule_descriptors(["C1CC"], "morgan_count", tmp_path)
