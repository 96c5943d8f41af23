"""chemprop ``MoleculeDataset``s for rows of a table, built from the featurisation cache.

:func:`build_molecule_dataset` hands chemprop graphs that were computed once by
:class:`admet_hpo.data.featurize.FeatureCache` instead of letting the dataset featurise on the fly: the
dataset's ``mg_cache`` is the list of cached graphs. Datapoints are lazy (RDKit molecules are only made
if someone asks for ``dataset.mols`` / ``dataset.smiles``). Extra molecule features (chemprop's ``X_d``,
see :mod:`admet_hpo.data.descriptors`) are passed per row; extra atom / bond features are not supported
(the cached graphs have none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from chemprop.data import LazyMoleculeDatapoint, MoleculeDataset, MolGraph

from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.table import MoleculeTable, SplitIndices


@dataclass
class CachedGraphMoleculeDataset(MoleculeDataset):
    """A :class:`chemprop.data.MoleculeDataset` whose graphs are given (``graphs[i]`` for ``data[i]``)."""

    graphs: Sequence[MolGraph] = field(default_factory=list, repr=False)

    def _init_cache(self) -> None:
        if len(self.graphs) != len(self.data):
            raise ValueError(f"{len(self.graphs)} graphs for {len(self.data)} datapoints")
        self.mg_cache = self.graphs


def build_molecule_dataset(
    table: MoleculeTable, rows: np.ndarray, cache: FeatureCache, descriptors: np.ndarray | None = None
) -> MoleculeDataset:
    """A chemprop dataset of ``table`` rows ``rows`` (targets with NaN for missing labels, unscaled),
    whose graphs come from ``cache`` (featurised at most once per molecule set, see ``FeatureCache``).
    ``descriptors`` (one row per row of ``table``) become the datapoints' extra features ``x_d``.

    A table with censored cells gives each datapoint chemprop's bound masks: ``lt_mask`` marks the
    ``<`` cells, ``gt_mask`` the ``>`` cells (the targets hold the bounds, scaled with the values by
    ``normalize_targets``); a bounded loss reads them, a plain MSE ignores them."""
    rows = np.asarray(rows, dtype=np.int64)
    all_graphs = cache.graphs(table)
    censoring = table.censoring
    data = [
        LazyMoleculeDatapoint(
            smiles=str(table.smiles[i]),
            y=table.targets[i].astype(float),
            name=str(table.smiles[i]),
            lt_mask=None if censoring is None else censoring[i] < 0,
            gt_mask=None if censoring is None else censoring[i] > 0,
            x_d=None if descriptors is None else descriptors[i],
        )
        for i in rows
    ]
    return CachedGraphMoleculeDataset(
        data=data, featurizer=cache.featurizer, graphs=[all_graphs[i] for i in rows]
    )


def build_split_datasets(
    table: MoleculeTable, split: SplitIndices, cache: FeatureCache
) -> tuple[MoleculeDataset, MoleculeDataset, MoleculeDataset]:
    """The train, validation and test datasets of ``split`` (an empty part gives an empty dataset)."""
    return tuple(build_molecule_dataset(table, rows, cache) for rows in (split.train, split.val, split.test))
