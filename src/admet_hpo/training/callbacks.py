"""Lightning callbacks that connect the joint sampler and the epoch history to the training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import lightning.pytorch as pl
import numpy as np

from admet_hpo.training.bound_metrics import bound_agreement, flatten_bound_agreement
from admet_hpo.training.metrics import flatten_task_metrics, per_task_metrics

EpochListener = Callable[[int, dict[str, float]], None]
"""Called once per finished epoch with ``(epoch, metrics)``; may raise (e.g. ``optuna.TrialPruned``)."""


class EpochAware(Protocol):
    """Anything whose draws depend on the epoch number passed in (the batch samplers)."""

    def set_epoch(self, epoch: int) -> None: ...


class SamplerEpochCallback(pl.Callback):
    """Passes the trainer's epoch to the batch sampler before each epoch's batches are drawn.

    Lightning creates (and prefetches from) the first epoch's iterator before any epoch hook runs, so the
    trainer code also calls ``set_epoch(start_epoch)`` before ``fit``; this callback covers later epochs,
    whose iterators are created after ``on_train_epoch_start``.
    """

    def __init__(self, sampler: EpochAware) -> None:
        self.sampler = sampler

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.sampler.set_epoch(trainer.current_epoch)


class EpochHistoryCallback(pl.Callback):
    """Records one flat metrics dict per epoch and hands it to listeners.

    Each record holds ``epoch``, ``train_loss``, ``val_loss`` (the training criterion on standardised
    targets: masked MSE, bounded for censored cells), the per-task validation metrics in original units
    (``val/<task>/rmse``, ``mae``, ``r2``, ``pearson_r``, ``spearman_rho``, and their task means
    ``val/mean_<metric>``; exact cells only when ``val_censoring`` is given, plus
    ``val/<task>/bound_agreement`` for its censored cells), and whatever the ``extra_metrics``
    providers return (sampler statistics, curriculum phase).

    The validation set is predicted once per epoch: the metrics come from the standardised predictions
    that :class:`~admet_hpo.training.model.SinglePassMPNN` kept while computing ``val_loss``, mapped back to
    original units by ``unscale``. ``val_targets`` are in original units and in the validation loader's
    (unshuffled) order.
    """

    def __init__(
        self,
        val_targets: np.ndarray,
        task_names: tuple[str, ...],
        unscale: Callable[[np.ndarray], np.ndarray],
        extra_metrics: list[Callable[[], dict[str, float]]] | None = None,
        listeners: list[EpochListener] | None = None,
        val_censoring: np.ndarray | None = None,
    ) -> None:
        self.val_censoring = val_censoring
        self.val_targets = val_targets
        self.task_names = task_names
        self.unscale = unscale
        self.extra_metrics = list(extra_metrics or [])
        self.listeners = list(listeners or [])
        self.history: list[dict[str, float]] = []
        self._val_metrics: dict[str, float] = {}

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        predictions = self.unscale(pl_module.epoch_validation_predictions())  # type: ignore[operator]
        metrics = per_task_metrics(self.val_targets, predictions, self.task_names, self.val_censoring)
        self._val_metrics = flatten_task_metrics(metrics, "val")
        if self.val_censoring is not None:
            agreement = bound_agreement(self.val_targets, predictions, self.val_censoring, self.task_names)
            self._val_metrics.update(flatten_bound_agreement(agreement, "val"))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logged = trainer.callback_metrics
        record: dict[str, float] = {"epoch": float(trainer.current_epoch)}
        for key, name in (("train_loss_epoch", "train_loss"), ("val_loss", "val_loss")):
            if key in logged:
                record[name] = float(logged[key])
        record.update(self._val_metrics)
        for provider in self.extra_metrics:
            record.update(provider())
        self.history.append(record)
        for listener in self.listeners:
            listener(trainer.current_epoch, record)
