"""Train / validation / test splits of a table, grouped by molecule and seeded (SPEC section 1).

Rows are grouped before they are assigned, so the records of one molecule (same InChIKey, see
:func:`admet_hpo.data.molecules.molecule_key`) always land in the same part:

- ``scaffold``: groups are Bemis-Murcko scaffolds joined with molecules: a molecule whose records have
  different scaffolds (tautomers spelled differently, e.g. 2-pyridone / 2-hydroxypyridine) joins those
  scaffolds into one group, so no scaffold and no molecule is in two parts.
  Groups larger than half the validation or test target go first, in seeded random order, then the
  rest in seeded random order (the balanced scaffold split of chemprop v1), so big scaffolds fill the
  training set and val/test get many small ones.
- ``random``: groups are molecules, in seeded random order.
- ``column``: the table's split column (values train / val / test, validated on load); a molecule with
  records in two parts is an error, unless ``molecules_may_cross`` is set: then the column is followed
  as it is (the per-endpoint protocols of published benchmarks, where a molecule can be a training
  record of one endpoint and a test record of another) and a warning gives the number of molecules
  whose records sit in more than one part.

Groups are placed in order into the first part (train, val, test) that still has room for them under
its target size ``sizes[k] * n_rows``; a group that fits nowhere goes to the part with the most room
left. The split hash is :func:`admet_hpo.data.hashing.split_assignment_hash` of the result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from admet_hpo.data.hashing import split_assignment_hash
from admet_hpo.data.identity_cache import molecule_identities
from admet_hpo.data.reading import location_word
from admet_hpo.data.table import MoleculeTable, SplitIndices
from admet_hpo.data.validation import SPLIT_VALUES, describe_rows
from admet_hpo.errors import DataValidationError

logger = logging.getLogger(__name__)

SplitMethod = Literal["scaffold", "random", "column"]


def molecule_codes(keys: np.ndarray) -> np.ndarray:
    """An integer molecule id per row of molecule ``keys`` (equal ids = same molecule), numbered by first
    appearance."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse]


def _scaffold_groups(scaffold_smiles: np.ndarray, molecules: np.ndarray) -> np.ndarray:
    """A group id per row: the connected components of the graph linking each row's molecule to its
    record's scaffold, numbered by first appearance."""
    scaffolds = np.unique(scaffold_smiles, return_inverse=True)[1]
    n_molecules = int(molecules.max()) + 1 if len(molecules) else 0
    n_nodes = n_molecules + (int(scaffolds.max()) + 1 if len(scaffolds) else 0)
    links = coo_matrix(
        (np.ones(len(molecules)), (molecules, n_molecules + scaffolds)), shape=(n_nodes, n_nodes)
    )
    component = connected_components(links, directed=False)[1][molecules]
    _, first, inverse = np.unique(component, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def _place_groups(groups: np.ndarray, order: np.ndarray, sizes: Sequence[float]) -> np.ndarray:
    """Part (0 train, 1 val, 2 test) per row, placing whole groups in ``order`` (see module docstring)."""
    group_sizes = np.bincount(groups)
    capacity = np.asarray(sizes, dtype=float) * len(groups)
    filled = np.zeros(3)
    part_of_group = np.zeros(len(group_sizes), dtype=np.int8)
    for group in order:
        size = group_sizes[group]
        fits = np.flatnonzero((filled + size <= capacity + 1e-9) & (capacity > 0))
        part = (
            int(fits[0]) if len(fits) else int(np.argmax(np.where(capacity > 0, capacity - filled, -np.inf)))
        )
        part_of_group[group] = part
        filled[part] += size
    return part_of_group[groups]


def _seeded_order(groups: np.ndarray, sizes: Sequence[float], seed: int, big_first: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    group_sizes = np.bincount(groups)
    order = rng.permutation(len(group_sizes))
    if not big_first:
        return order
    n_rows = len(groups)
    big = (group_sizes[order] > sizes[1] * n_rows / 2) | (group_sizes[order] > sizes[2] * n_rows / 2)
    return np.concatenate([order[big], order[~big]])


def _column_parts(
    table: MoleculeTable, molecules: np.ndarray, split_col: str, molecules_may_cross: bool
) -> np.ndarray:
    if table.split is None:
        raise DataValidationError(
            f"{table.source}: split method 'column' needs a split column; set data.split_col to the column "
            f"holding {', '.join(SPLIT_VALUES)}"
        )
    index_of = {name: k for k, name in enumerate(SPLIT_VALUES)}
    parts = np.array([index_of[value] for value in table.split], dtype=np.int8)
    pairs = np.unique(np.stack([molecules, parts]), axis=1)
    straddling = np.flatnonzero(np.bincount(pairs[0]) > 1)
    if len(straddling) and molecules_may_cross:
        logger.warning(
            "%s: column %r: %d molecule(s) have records in more than one split (split.molecules_may_cross "
            "is true): a molecule's records in one part inform predictions of its records in another",
            table.source,
            split_col,
            len(straddling),
        )
    elif len(straddling):
        where = location_word(table.source)
        bad_rows = np.flatnonzero(molecules == straddling[0])
        found = ", ".join(f"{table.split[row]} at {where} {table.lines[row]}" for row in bad_rows[:5])
        rows = describe_rows(where, table.lines[bad_rows])
        raise DataValidationError(
            f"{table.source}: column {split_col!r}: {len(straddling)} molecule(s) with records in more than "
            f"one split, first {table.smiles[bad_rows[0]]!r} at {rows} ({found}); expected all records of "
            "one molecule in the same split (or set split.molecules_may_cross: true for per-endpoint "
            "splits)"
        )
    return parts


def split_table(
    table: MoleculeTable,
    method: SplitMethod = "scaffold",
    sizes: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    split_col: str = "split",
    molecules_may_cross: bool = False,
) -> SplitIndices:
    """Split ``table`` by ``method`` (see the module docstring); ``sizes`` are train/val/test fractions
    (ignored for ``column``), ``split_col`` only names the column in messages; ``molecules_may_cross``
    (``column`` only) lets a molecule's records sit in different parts."""
    keys, scaffolds = molecule_identities(table.smiles)
    molecules = molecule_codes(keys)
    if method == "column":
        parts = _column_parts(table, molecules, split_col, molecules_may_cross)
    elif method in ("scaffold", "random"):
        groups = _scaffold_groups(scaffolds, molecules) if method == "scaffold" else molecules
        parts = _place_groups(
            groups, _seeded_order(groups, sizes, seed, big_first=method == "scaffold"), sizes
        )
    else:
        raise ValueError(f"unknown split method {method!r}")
    train, val, test = (np.flatnonzero(parts == k) for k in range(3))
    return SplitIndices(train, val, test, split_assignment_hash(len(table), train, val, test))
