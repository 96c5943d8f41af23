"""Extra molecule features (chemprop's ``X_d``) from chemprop's molecule featurizers, computed once.

``model.descriptors`` names a set (:data:`DESCRIPTOR_SETS`): ``rdkit2d`` (chemprop's ``rdkit_2d``: every
RDKit 2D descriptor of ``rdkit.Chem.Descriptors.descList``), ``morgan_count`` / ``morgan_binary``
(chemprop's Morgan fingerprints, radius 2, 2048 bits, chirality included), ``rdkit2d+morgan_count``
(both, concatenated), or ``none``. They are concatenated to the learned molecule representation after
aggregation, as chemprop's ``--molecule-featurizers`` does.

The values are computed once per set of molecules and featurizers (:class:`DescriptorCache`, a
:class:`~admet_hpo.data.molecule_cache.MoleculeSetCache` under ``<cache_dir>/descriptors/``) and stored
raw (unscaled) as float32. A value that is NaN, infinite or beyond float32's range (some RDKit
descriptors overflow on large molecules, e.g. ``Ipc``) is replaced by 0, chemprop's own token for a
missing descriptor, and the count of such cells is logged. Scaling is the trainer's: a
``StandardScaler`` fitted on the training split, chemprop's ``X_d`` convention (see
:mod:`admet_hpo.training.run`).

:func:`molecule_descriptors` is the one path from SMILES to descriptors, for training and prediction.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import chemprop
import numpy as np
import rdkit
from chemprop.featurizers import MoleculeFeaturizerRegistry

from admet_hpo.data.molecule_cache import MoleculeSetCache, distinct_smiles
from admet_hpo.data.molecules import parse_smiles

logger = logging.getLogger(__name__)

#: ``model.descriptors`` value -> chemprop molecule featurizer names (``MoleculeFeaturizerRegistry``).
DESCRIPTOR_SETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "rdkit2d": ("rdkit_2d",),
    "morgan_count": ("morgan_count",),
    "morgan_binary": ("morgan_binary",),
    "rdkit2d+morgan_count": ("rdkit_2d", "morgan_count"),
}
MEMORY_ENTRIES = 2
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _featurizer(name: str):
    """chemprop's featurizer ``name``; its note that RDKit descriptors are not normally distributed
    (logged at every construction) is left out: scaling follows chemprop's default on purpose."""
    chemprop_logger = logging.getLogger("chemprop.featurizers.molecule")
    previous = chemprop_logger.level
    chemprop_logger.setLevel(logging.ERROR)
    try:
        return MoleculeFeaturizerRegistry[name]()
    finally:
        chemprop_logger.setLevel(previous)


def clean_descriptors(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values`` as float32 with every NaN, infinite or out-of-float32-range cell set to 0, and the
    number of cells replaced."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
    return np.where(bad, 0.0, values).astype(np.float32), int(bad.sum())


class DescriptorCache(MoleculeSetCache[np.ndarray]):
    """The descriptor matrix of set ``descriptors`` (a :data:`DESCRIPTOR_SETS` key other than ``none``)
    for molecules, cached in memory and under ``cache_dir`` (see the module docstrings)."""

    subdir: ClassVar[str] = "descriptors"
    memory_entries: ClassVar[int] = MEMORY_ENTRIES
    memory: ClassVar[OrderedDict[str, object]] = OrderedDict()

    def __init__(self, descriptors: str, cache_dir: Path | str | None = None, persist: bool = True) -> None:
        if descriptors not in DESCRIPTOR_SETS or descriptors == "none":
            known = ", ".join(name for name in DESCRIPTOR_SETS if name != "none")
            raise ValueError(f"unknown descriptor set {descriptors!r}; expected one of {known}")
        super().__init__(cache_dir, persist)
        self.descriptors = descriptors
        self.featurizers = [_featurizer(name) for name in DESCRIPTOR_SETS[descriptors]]

    @property
    def width(self) -> int:
        """Columns of the matrix (the model's extra input size)."""
        return sum(len(featurizer) for featurizer in self.featurizers)

    def identity(self) -> str:
        parts = [f"{type(f).__qualname__}:{len(f)}" for f in self.featurizers]
        return "|".join([*parts, chemprop.__version__, rdkit.__version__])

    def compute(self, distinct: np.ndarray) -> np.ndarray:
        rows = []
        for smiles in distinct:
            mol = parse_smiles(smiles)
            if mol is None:
                raise ValueError(f"cannot compute descriptors of unparsable SMILES {str(smiles)!r}")
            rows.append(np.concatenate([np.asarray(f(mol), dtype=np.float64) for f in self.featurizers]))
        values, replaced = clean_descriptors(np.stack(rows))
        if replaced:
            logger.warning(
                "%s descriptors: %d value(s) of %d molecule(s) were NaN, infinite or too large and are set "
                "to 0",
                self.descriptors,
                replaced,
                len(distinct),
            )
        return values

    def to_arrays(self, value: np.ndarray) -> dict[str, np.ndarray]:
        return {"descriptors": value}

    def from_arrays(self, arrays: np.lib.npyio.NpzFile, expected: int) -> np.ndarray:
        values = arrays["descriptors"]
        if values.shape != (expected, self.width):
            raise ValueError(f"it holds shape {values.shape}, expected {(expected, self.width)}")
        return values

    def matrix(self, smiles: Sequence[str] | np.ndarray) -> np.ndarray:
        """``(len(smiles), width)`` float32 descriptors, one row per SMILES (repeats share values)."""
        distinct, row_to_distinct = distinct_smiles(np.asarray(smiles, dtype=object))
        if len(distinct) == 0:
            return np.empty((0, self.width), dtype=np.float32)
        return self.lookup(distinct)[row_to_distinct]


def molecule_descriptors(
    smiles: Sequence[str] | np.ndarray,
    descriptors: str,
    cache_dir: Path | str | None = None,
    persist: bool = True,
) -> np.ndarray | None:
    """Raw (unscaled, cleaned) descriptors of set ``descriptors`` (``model.descriptors``) for each of
    ``smiles``, ``(len(smiles), width)`` float32; None for ``none``. Training and prediction both call
    this, so a model sees the same features; every SMILES must parse (unparsable ones raise ValueError:
    report them before). A trained model scales them itself when it predicts (its ``X_d_transform``)."""
    if descriptors == "none":
        return None
    return DescriptorCache(descriptors, cache_dir, persist).matrix(smiles)
