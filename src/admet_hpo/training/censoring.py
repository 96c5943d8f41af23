"""How censored labels (``<`` / ``>`` bounds) enter training: ``censored: loss | drop | as_exact``.

- ``loss`` (default): bounds stay bounds. The criterion is chemprop's :class:`BoundedMSE` on standardised
  targets (bounds are standardised with the values): an exact cell costs its squared error; for ``<c``
  a prediction at or below ``c`` costs nothing (zero gradient) and one above costs ``(pred - c)^2``;
  ``>c`` mirrors it.
- ``drop``: censored cells become missing labels for training (rows left with no label drop out).
- ``as_exact``: a bound is trained on as if it were the measured value (plain MSE).

Evaluation does not depend on the mode: regression metrics use exact cells only and censored cells get
the bound agreement (:mod:`admet_hpo.training.bound_metrics`), so the three modes compare on equal terms.
``sampling.curriculum.censored_quality`` gives rows that hold a censored label (after ``drop``, none)
that quality for the curriculum's weights.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from chemprop.models import MPNN
from chemprop.nn import metrics as chemprop_metrics

from admet_hpo.data.table import MoleculeTable

CensoredMode = Literal["loss", "drop", "as_exact"]


def training_view(table: MoleculeTable, mode: CensoredMode, censored_quality: str | None) -> MoleculeTable:
    """``table`` as the training loss and the sampler see it under ``mode`` (see the module docs).

    Only ``loss`` keeps the censoring codes (and so chemprop's bound masks); ``drop`` makes censored cells
    NaN. With ``censored_quality``, rows still holding a censored cell get that quality.
    """
    censored = table.censored
    targets = np.where(censored, np.nan, table.targets) if mode == "drop" else table.targets
    quality = table.quality
    if censored_quality is not None and quality is not None and mode != "drop":
        quality = np.where(censored.any(axis=1), censored_quality, quality).astype(object)
    return dataclasses.replace(
        table,
        targets=targets,
        quality=quality,
        censoring=table.censoring if mode == "loss" else None,
    )


def training_criterion(mode: CensoredMode) -> chemprop_metrics.ChempropMetric:
    """The training loss for ``mode``: bounded MSE for ``loss``, MSE otherwise (both chemprop classes, so
    saved models load in ``chemprop predict``)."""
    return chemprop_metrics.BoundedMSE() if mode == "loss" else chemprop_metrics.MSE()


def record_plain_criterion(model: MPNN) -> None:
    """Make ``model``'s recorded hyperparameters name a plain MSE criterion before it is saved for
    prediction (``best.pt``).

    ``chemprop predict`` 2.3.1 parses its input as bounded targets when a model's criterion is bounded,
    and that parser calls ``DataFrame.applymap``, which pandas 3 removed: it fails before predicting.
    The criterion plays no part in predictions, so the saved model records MSE with the same task
    weights; the Lightning checkpoints keep the bounded loss (resuming trains with it).
    """
    criterion = model.hparams["predictor"]["criterion"]
    if isinstance(criterion, chemprop_metrics.BoundedMixin):
        model.hparams["predictor"]["criterion"] = chemprop_metrics.MSE(task_weights=criterion.task_weights)
