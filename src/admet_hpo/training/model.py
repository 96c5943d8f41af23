"""Build a chemprop v2 multi-task regression MPNN from the typed config."""

from __future__ import annotations

import numpy as np
from chemprop import nn as cnn
from chemprop.models import MPNN
from sklearn.preprocessing import StandardScaler

from admet_hpo.config.training import ModelConfig, OptimConfig

_AGGREGATIONS = {
    "mean": cnn.MeanAggregation,
    "sum": cnn.SumAggregation,
    "norm": cnn.NormAggregation,
}


def build_mpnn(
    model: ModelConfig,
    optim: OptimConfig,
    n_tasks: int,
    target_scaler: StandardScaler,
    criterion: cnn.metrics.ChempropMetric | None = None,
) -> MPNN:
    """A bond message-passing MPNN with a ``n_tasks``-output regression FFN.

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
        input_dim=message_passing.output_dim,
        hidden_dim=model.ffn_hidden_dim,
        n_layers=model.ffn_num_layers,
        dropout=model.dropout,
        activation=model.activation,
        output_transform=cnn.UnscaleTransform.from_standard_scaler(target_scaler),
        criterion=criterion,
    )
    return MPNN(
        message_passing,
        aggregation,
        predictor,
        batch_norm=model.batch_norm,
        metrics=[cnn.metrics.MSE()],
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
