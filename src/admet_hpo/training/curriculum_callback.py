"""Feed validation loss into the quality curriculum and log its phase every epoch."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from admet_hpo.sampling import CurriculumState


class CurriculumCallback(pl.Callback):
    """Advances the curriculum on validation plateaus (SPEC 2.2).

    At each ``on_validation_epoch_end`` (sanity check excluded) the epoch's ``val_loss`` goes to
    :meth:`CurriculumState.update`; a phase change takes effect from the next epoch's draws, because the
    sampler reads the curriculum when that epoch's batches are drawn. With ``reset_early_stopping`` the
    early-stopping patience counter restarts on a phase change. The curriculum state travels with
    Lightning checkpoints, so a resumed run continues in the same phase.
    """

    def __init__(self, curriculum: CurriculumState, reset_early_stopping: bool = False) -> None:
        self.curriculum = curriculum
        self.reset_early_stopping = reset_early_stopping

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        advanced = self.curriculum.update(trainer.current_epoch, float(trainer.callback_metrics["val_loss"]))
        if advanced and self.reset_early_stopping:
            for callback in trainer.callbacks:  # type: ignore[attr-defined]
                if isinstance(callback, EarlyStopping):
                    callback.wait_count = 0

    def metrics(self) -> dict[str, float]:
        """The phase index and per-quality draw shares, as flat metrics for the epoch record."""
        return self.curriculum.metrics("curriculum/")

    def state_dict(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curriculum.load_state_dict(state_dict["curriculum"])
