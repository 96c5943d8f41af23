"""From per-assay measurements to the product's table: one record per molecule, condition and quality.

Public sets arrive as one value per (compound, endpoint). The product's table needs one row per
measurement record whose quality, experiment and condition apply to all of its labels. So each value
first becomes a *cell* (compound, SMILES, experiment, condition, quality, target, value), and cells are
then packed into records: one record per (compound, condition, quality); if a compound has two values
of one target in the same group, the second goes into a second record. A censored value therefore lands
in its own (``low``) record, while the compound's exact values of the same condition share a ``high``
record. Each target also gets a qualifier column (:data:`QUALIFIER_PATTERN`): ``<`` for a value at an
assay floor, ``>`` at a ceiling, ``=`` otherwise, empty beside a missing value; a training config reads
them as bounds with ``data.qualifier_cols: "{target} modifier"`` and ignores them otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CELL_COLUMNS = ("compound", "smiles", "experiment", "condition", "quality", "target", "value", "qualifier")
QUALITIES = ("high", "medium", "low")
QUALIFIER_PATTERN = "{target} modifier"


@dataclass(frozen=True)
class Endpoint:
    """How one source column becomes cells of one target.

    ``floors`` and ``ceilings`` are the assay limits in the source's units; a value within ``tolerance``
    of one is censored (quality ``low``; qualifier ``<`` at a floor: the true value is at most the
    floor, ``>`` at a ceiling), other values get ``in_range_quality``. ``convert`` maps source values
    (and the SMILES, e.g. for a molecular weight) to the target's units after censoring is decided; it
    must be increasing, so a floor stays a floor.
    """

    target: str
    source_column: str
    condition: str
    floors: tuple[float, ...] = ()
    ceilings: tuple[float, ...] = ()
    tolerance: float = 1e-6
    in_range_quality: str = "high"
    convert: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def qualifiers(self, values: np.ndarray) -> np.ndarray:
        """``"<"`` for values at a floor, ``">"`` at a ceiling, ``"="`` for the others."""
        out = np.full(len(values), "=", dtype=object)
        for limits, symbol in ((self.floors, "<"), (self.ceilings, ">")):
            for limit in limits:
                out[np.abs(values - limit) <= self.tolerance] = symbol
        return out


def endpoint_cells(
    compounds: np.ndarray, smiles: np.ndarray, values: np.ndarray, experiment: str, endpoint: Endpoint
) -> pd.DataFrame:
    """The cells of one endpoint: one per non-missing value, with its quality, converted value and
    qualifier."""
    present = ~np.isnan(values)
    compounds, smiles, values = compounds[present], smiles[present], values[present]
    qualifiers = endpoint.qualifiers(values)
    quality = np.where(qualifiers != "=", "low", endpoint.in_range_quality)
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
            "qualifier": qualifiers,
        },
        columns=list(CELL_COLUMNS),
    )


def pack_records(cells: pd.DataFrame, targets: Sequence[str], conditions: Sequence[str]) -> pd.DataFrame:
    """Pack cells into records (see the module docstring), ordered by the compound's first appearance in
    ``cells``, then ``conditions`` order, then quality (high, medium, low). Columns: ``smiles``, the
    ``targets`` in order, their qualifier columns in the same order, ``experiment``, ``condition``,
    ``quality``, ``compound``."""
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
    qualifier_names = {target: QUALIFIER_PATTERN.replace("{target}", target) for target in targets}
    qualifiers = (
        keyed.pivot(index=record, columns="target", values="qualifier")
        .reindex(columns=list(targets))
        .rename(columns=qualifier_names)
    )
    meta = keyed.groupby(record)[["smiles", "experiment", "condition", "quality", "compound"]].first()
    records = wide.join(qualifiers).join(meta).sort_index().reset_index(drop=True)
    columns = [
        "smiles",
        *targets,
        *qualifier_names.values(),
        "experiment",
        "condition",
        "quality",
        "compound",
    ]
    return records[columns]
