"""From per-assay measurements to the product's table: one record per molecule, condition and quality.

Public sets arrive as one value per (compound, endpoint). The product's table needs one row per
measurement record whose quality, experiment and condition apply to all of its labels. So each value
first becomes a *cell* (compound, SMILES, experiment, condition, quality, target, value), and cells are
then packed into records: one record per (compound, condition, quality); if a compound has two values
of one target in the same group, the second goes into a second record. A censored value therefore lands
in its own (``low``) record, while the compound's exact values of the same condition share a ``high``
record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CELL_COLUMNS = ("compound", "smiles", "experiment", "condition", "quality", "target", "value")
QUALITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Endpoint:
    """How one source column becomes cells of one target.

    ``limits`` are the assay limits in the source's units; a value within ``tolerance`` of one is
    censored (quality ``low``), other values get ``in_range_quality``. ``convert`` maps source values
    (and the SMILES, e.g. for a molecular weight) to the target's units after censoring is decided.
    """

    target: str
    source_column: str
    condition: str
    limits: tuple[float, ...] = ()
    tolerance: float = 1e-6
    in_range_quality: str = "high"
    convert: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def censored(self, values: np.ndarray) -> np.ndarray:
        """Which values sit at an assay limit."""
        at_limit = np.zeros(len(values), dtype=bool)
        for limit in self.limits:
            at_limit |= np.abs(values - limit) <= self.tolerance
        return at_limit


def endpoint_cells(
    compounds: np.ndarray, smiles: np.ndarray, values: np.ndarray, experiment: str, endpoint: Endpoint
) -> pd.DataFrame:
    """The cells of one endpoint: one per non-missing value, with its quality and converted value."""
    present = ~np.isnan(values)
    compounds, smiles, values = compounds[present], smiles[present], values[present]
    quality = np.where(endpoint.censored(values), "low", endpoint.in_range_quality)
    converted = endpoint.convert(values, smiles) if endpoint.convert is not None else values
    return pd.DataFrame(
        {
            "compound": compounds,
            "smiles": smiles,
            "experiment": experiment,
            "condition": endpoint.condition,
            "quality": quality,
            "target": endpoint.target,
            "value": converted,
        },
        columns=list(CELL_COLUMNS),
    )


def pack_records(cells: pd.DataFrame, targets: Sequence[str], conditions: Sequence[str]) -> pd.DataFrame:
    """Pack cells into records (see the module docstring), ordered by the compound's first appearance in
    ``cells``, then ``conditions`` order, then quality (high, medium, low). Columns: ``smiles``, the
    ``targets`` in order, ``experiment``, ``condition``, ``quality``, ``compound``."""
    cells = cells.reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "_compound": pd.factorize(cells["compound"])[0],
            "_condition": cells["condition"].map({name: i for i, name in enumerate(conditions)}),
            "_quality": cells["quality"].map({name: i for i, name in enumerate(QUALITIES)}),
        }
    )
    if keys.isna().any().any():
        raise ValueError("cells with a condition or quality outside the configured lists")
    keyed = pd.concat([keys, cells], axis=1)
    keyed["_slot"] = keyed.groupby([*keys.columns, "target"]).cumcount()
    record = [*keys.columns, "_slot"]
    wide = keyed.pivot(index=record, columns="target", values="value").reindex(columns=list(targets))
    meta = keyed.groupby(record)[["smiles", "experiment", "condition", "quality", "compound"]].first()
    records = wide.join(meta).sort_index().reset_index(drop=True)
    return records[["smiles", *targets, "experiment", "condition", "quality", "compound"]]
