"""Build a chemprop v2 multi-task regression MPNN from the typed config."""

from __future__ import annotations

import numpy as np
import torch
from chemprop import nn as cnn
from chemprop.models import MPNN
from sklearn.preprocessing import StandardScaler

from admet_hpo.config.training import ModelConfig, OptimConfig

_AGGREGATIONS = {
    "mean": cnn.MeanAggregation,
    "sum": cnn.SumAggregation,
    "norm": cnn.NormAggregation,
}


class SinglePassMPNN(MPNN):
    """chemprop's MPNN with a validation step that runs the model once per batch.

    chemprop's own ``validation_step`` runs the network twice per batch (once for its metrics, once for
    the loss). Here one forward pass gives ``val_loss`` (the training criterion on standardised targets,
    exactly as chemprop computes it) and the batch's standardised predictions, which are kept in
    :attr:`validation_predictions` (in batch order, reset at each validation epoch's start) so that the
    epoch's per-task metrics come from the same predictions. Checkpoints and ``best.pt`` files hold the
    same hyperparameters and weights as a plain ``MPNN`` and load with ``MPNN.load_from_checkpoint`` /
    ``MPNN.load_from_file`` (and ``chemprop predict``).
    """

    def on_validation_epoch_start(self) -> None:
        self.validation_predictions: list[torch.Tensor] = []

    def validation_step(self, batch, batch_idx: int = 0) -> None:  # type: ignore[override]
        bmg, atom_descriptors, mol_descriptors, targets, weights, lt_mask, gt_mask = batch
        mask = targets.isfinite()
        preds = self.predictor.train_step(self.fingerprint(bmg, atom_descriptors, mol_descriptors))
        self.metrics[-1](preds, targets.nan_to_num(nan=0.0), mask, weights, lt_mask, gt_mask)
        self.log("val_loss", self.metrics[-1], batch_size=self.get_batch_size(batch), prog_bar=True)
        self.validation_predictions.append(preds.detach())

    def epoch_validation_predictions(self) -> np.ndarray:
        """This validation epoch's standardised predictions ``(rows, tasks)`` in loader order."""
        if not getattr(self, "validation_predictions", None):
            return np.empty((0, self.n_tasks))
        return torch.cat(self.validation_predictions).cpu().numpy()


def build_mpnn(
    model: ModelConfig,
    optim: OptimConfig,
    n_tasks: int,
    target_scaler: StandardScaler,
    criterion: cnn.metrics.ChempropMetric | None = None,
    descriptor_scaler: StandardScaler | None = None,
) -> SinglePassMPNN:
    """A bond message-passing MPNN with a ``n_tasks``-output regression FFN.

    ``descriptor_scaler`` (fitted on the training split's extra molecule features, chemprop's ``X_d``)
    widens the FFN input by its feature count and becomes the model's ``X_d_transform``, as in
    ``chemprop train``: training and validation datasets hold scaled features, and outside training
    (prediction, ``chemprop predict``) the model scales raw features itself.

    The FFN learns standardised targets (the training loss, ``criterion`` or by default masked MSE, is
    computed on them; ``val_loss`` is the same criterion on the validation batches); its output transform
    un-standardises predictions outside training, so checkpoints predict in the original units, as
    ``chemprop predict`` expects.
    """
    message_passing = cnn.BondMessagePassing(
        d_h=model.message_hidden_dim,
        depth=model.depth,
        dropout=model.dropout,
        activation=model.activation,
    )
    aggregation = _AGGREGATIONS[model.aggregation]()
    predictor = cnn.RegressionFFN(
        n_tasks=n_tasks,
        input_dim=message_passing.output_dim
        + (0 if descriptor_scaler is None else descriptor_scaler.n_features_in_),
        hidden_dim=model.ffn_hidden_dim,
        n_layers=model.ffn_num_layers,
        dropout=model.dropout,
        activation=model.activation,
        output_transform=cnn.UnscaleTransform.from_standard_scaler(target_scaler),
        criterion=criterion,
    )
    return SinglePassMPNN(
        message_passing,
        aggregation,
        predictor,
        batch_norm=model.batch_norm,
        metrics=[cnn.metrics.MSE()],
        X_d_transform=None
        if descriptor_scaler is None
        else cnn.ScaleTransform.from_standard_scaler(descriptor_scaler),
        warmup_epochs=optim.warmup_epochs,
        init_lr=optim.init_lr,
        max_lr=optim.max_lr,
        final_lr=optim.final_lr,
    )


def fit_target_scaler(targets: np.ndarray) -> StandardScaler:
    """Per-task mean and standard deviation over the labelled training cells (NaN ignored)."""
    scaler = StandardScaler()
    scaler.fit(targets)
    scaler.scale_ = np.where(np.isfinite(scaler.scale_) & (scaler.scale_ > 0), scaler.scale_, 1.0)
    return scaler
