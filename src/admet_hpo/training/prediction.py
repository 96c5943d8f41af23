"""Batched inference with a trained MPNN, in the targets' original units."""

from __future__ import annotations

import numpy as np
import torch
from chemprop.data import MoleculeDataset, collate_batch
from chemprop.models import MPNN
from torch.utils.data import DataLoader


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
