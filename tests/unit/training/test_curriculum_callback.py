"""The curriculum callback feeds val_loss to the curriculum, resets early stopping, and checkpoints state."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from lightning.pytorch.callbacks import EarlyStopping

from admet_hpo.sampling import CurriculumState
from admet_hpo.training.curriculum_callback import CurriculumCallback


def fake_trainer(
    epoch: int, val_loss: float, early_stopping: EarlyStopping, sanity: bool = False
) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=sanity,
        current_epoch=epoch,
        callback_metrics={"val_loss": torch.tensor(val_loss)},
        callbacks=[early_stopping],
    )


def run_epochs(callback: CurriculumCallback, losses: list[float], early_stopping: EarlyStopping) -> None:
    for epoch, loss in enumerate(losses):
        early_stopping.wait_count = 5  # as if early stopping had been counting
        callback.on_validation_epoch_end(fake_trainer(epoch, loss, early_stopping), None)


def test_plateau_advances_one_phase_and_resets_early_stopping_when_asked() -> None:
    curriculum = CurriculumState(["high", "medium", "low"], patience=2)
    stopping = EarlyStopping(monitor="val_loss")
    callback = CurriculumCallback(curriculum, reset_early_stopping=True)
    run_epochs(callback, [1.0, 1.0, 1.0], stopping)
    assert curriculum.phase == "expand"
    assert stopping.wait_count == 0
    assert callback.metrics()["curriculum/phase_index"] == 1.0


def test_without_reset_early_stopping_keeps_counting() -> None:
    curriculum = CurriculumState(["high", "medium", "low"], patience=2)
    stopping = EarlyStopping(monitor="val_loss")
    run_epochs(CurriculumCallback(curriculum, reset_early_stopping=False), [1.0, 1.0, 1.0], stopping)
    assert curriculum.phase == "expand" and stopping.wait_count == 5


def test_sanity_check_validation_is_ignored() -> None:
    curriculum = CurriculumState(["high", "low"], patience=1)
    callback = CurriculumCallback(curriculum)
    stopping = EarlyStopping(monitor="val_loss")
    for epoch in range(3):
        callback.on_validation_epoch_end(fake_trainer(epoch, 1.0, stopping, sanity=True), None)
    assert curriculum.phase == "warmup"


def test_state_round_trips_through_the_checkpoint_dict() -> None:
    source = CurriculumState(["high", "medium", "low"], patience=1)
    callback = CurriculumCallback(source)
    run_epochs(callback, [1.0, 1.0, 1.0], EarlyStopping(monitor="val_loss"))
    restored = CurriculumCallback(CurriculumState(["high", "medium", "low"], patience=1))
    restored.load_state_dict(callback.state_dict())
    assert restored.curriculum.phase == source.phase and restored.metrics() == callback.metrics()
