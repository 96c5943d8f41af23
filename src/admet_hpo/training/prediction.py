"""Batched inference with a trained MPNN, in the targets' original units, and the predictions file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from chemprop.data import MoleculeDataset, collate_batch
from chemprop.models import MPNN
from torch.utils.data import DataLoader

if TYPE_CHECKING:
    from admet_hpo.data.table import MoleculeTable


def evaluation_loader(dataset: MoleculeDataset, batch_size: int, num_workers: int = 0) -> DataLoader:
    """Sequential, unshuffled batches over every row of ``dataset`` with chemprop's collate function."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate_batch
    )


@torch.no_grad()
def predict(model: MPNN, loader: DataLoader) -> np.ndarray:
    """Predictions ``(rows, tasks)`` in original units; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        outputs = []
        for batch in loader:
            bmg, v_d, x_d, *_ = batch
            bmg.to(model.device)
            outputs.append(model(bmg, v_d, x_d).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outputs, axis=0) if outputs else np.empty((0, model.n_tasks))


def write_predictions(
    path: Path, table: MoleculeTable, splits: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Write the labelled cells of some rows of ``table`` with their predictions as CSV, one row per cell.

    ``splits`` maps a split name (``val``, ``test``) to ``(rows, predictions)``: row indices of ``table``
    and their predictions ``(len(rows), tasks)`` in original units. Columns: ``split``, ``line`` (the
    row's line in the data file), ``smiles``, ``task``, ``observed``, ``predicted`` and ``censoring``
    (0 exact, -1 ``<`` bound, +1 ``>`` bound).
    """
    import pandas as pd

    parts = []
    for split, (rows, predictions) in splits.items():
        targets = table.targets[rows]
        censoring = np.zeros(targets.shape, np.int8) if table.censoring is None else table.censoring[rows]
        row_index, task_index = np.nonzero(np.isfinite(targets))
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "line": table.lines[rows][row_index],
                    "smiles": table.smiles[rows][row_index],
                    "task": np.asarray(table.target_names, dtype=object)[task_index],
                    "observed": targets[row_index, task_index],
                    "predicted": predictions[row_index, task_index],
                    "censoring": censoring[row_index, task_index],
                }
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame.to_csv(path, index=False, float_format="%.6g")
