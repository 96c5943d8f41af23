"""Train one configuration end to end: data -> sampler -> chemprop MPNN -> metrics and checkpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from chemprop.data import collate_batch
from chemprop.models import MPNN
from chemprop.models.utils import save_model
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.table import MoleculeTable, SplitIndices
from admet_hpo.sampling.batch_sampler import FlexibleBatchSampler
from admet_hpo.training.bound_metrics import BoundAgreement, bound_agreement
from admet_hpo.training.callbacks import EpochHistoryCallback, EpochListener, SamplerEpochCallback
from admet_hpo.training.censoring import record_plain_criterion, training_criterion, training_view
from admet_hpo.training.curriculum_callback import CurriculumCallback
from admet_hpo.training.devices import DevicePlan, RankProcesses, plan_devices, trainer_arguments
from admet_hpo.training.metrics import TaskMetrics, per_task_metrics, task_means
from admet_hpo.training.model import build_mpnn, fit_target_scaler
from admet_hpo.training.prediction import evaluation_loader, predict, write_predictions

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What one training run produced. Metrics of the best (lowest val_loss) epoch's model: regression
    metrics over exact cells, bound agreement over censored ones (tasks without bounds have none)."""

    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]]
    val_metrics: dict[str, TaskMetrics]
    test_metrics: dict[str, TaskMetrics]
    checkpoint_path: Path
    model_path: Path
    data_hash: str
    split_hash: str
    task_names: tuple[str, ...] = field(default_factory=tuple)
    val_bounds: dict[str, BoundAgreement] = field(default_factory=dict)
    test_bounds: dict[str, BoundAgreement] = field(default_factory=dict)
    #: The device Lightning trained on (rank 0's in DDP), e.g. ``cpu`` or ``cuda:0``.
    device: str = "cpu"
    #: The best model's validation and test predictions (see
    #: :func:`~admet_hpo.training.prediction.write_predictions`).
    predictions_path: Path | None = None


def training_batch_sampler(
    config: TrainingConfig, train_table: MoleculeTable, num_replicas: int = 1, rank: int = 0
) -> FlexibleBatchSampler:
    """The configured joint batch sampler over the rows of ``train_table``, in their order (the training
    dataset's): batch indices are positions in ``train_table``. ``num_replicas``/``rank``: the DDP
    world size and this process's rank (each rank draws its own share of every epoch's batches)."""
    from admet_hpo.sampling import build_batch_sampler

    return build_batch_sampler(
        config.sampling,
        train_table.targets,
        batch_size=config.trainer.batch_size,
        quality=train_table.quality,
        experiment=train_table.experiment,
        condition=train_table.condition,
        task_names=train_table.target_names,
        num_replicas=num_replicas,
        rank=rank,
    )


def labelled_rows(table: MoleculeTable, rows: np.ndarray) -> np.ndarray:
    """The rows among ``rows`` with at least one label (rows without any can never enter a batch)."""
    return rows[np.isfinite(table.targets[rows]).any(axis=1)]


def train(
    config: TrainingConfig,
    *,
    callbacks: Sequence[pl.Callback] = (),
    listeners: Sequence[EpochListener] = (),
    progress_bar: bool | None = None,
    data: tuple[MoleculeTable, SplitIndices] | None = None,
    resume_from: Path | None = None,
) -> TrainingResult:
    """Train ``config`` and evaluate its best checkpoint on the validation and test splits.

    ``listeners`` receive each epoch's metrics (see :class:`EpochHistoryCallback`); ``callbacks`` are
    added to the Lightning trainer (e.g. a pruning callback). ``data`` skips loading when the caller
    already holds the validated table and its split (the study runner loads it once per worker).
    ``resume_from`` continues from a Lightning checkpoint of the same config (e.g. ``last.ckpt``); the
    resumed run draws exactly the batches an uninterrupted run would.

    ``trainer.devices`` above 1 trains with DDP over that many processes of this machine
    (:mod:`admet_hpo.training.devices`): every rank trains on its share of the batches and validates on
    the whole validation split; only this process (rank 0) runs ``callbacks`` and ``listeners``, writes
    checkpoints and metrics, and returns. The devices are checked against the machine first.
    """
    plan = plan_devices(config.trainer)
    with RankProcesses(plan.world_size) as rank:
        keep = rank == 0  # the caller's callbacks and listeners (reports, tracking) act once, on rank 0
        result = _train(
            config,
            plan,
            rank,
            callbacks=callbacks if keep else (),
            listeners=listeners if keep else (),
            progress_bar=progress_bar if keep else False,
            data=data,
            resume_from=resume_from,
        )
    assert result is not None  # only rank 0 leaves the block
    return result


def _train(
    config: TrainingConfig,
    plan: DevicePlan,
    rank: int,
    *,
    callbacks: Sequence[pl.Callback],
    listeners: Sequence[EpochListener],
    progress_bar: bool | None,
    data: tuple[MoleculeTable, SplitIndices] | None,
    resume_from: Path | None,
) -> TrainingResult | None:
    """:func:`train` in one rank of ``plan``; None in ranks other than 0, right after fitting."""
    from admet_hpo.data.datasets import build_molecule_dataset
    from admet_hpo.data.descriptors import molecule_descriptors
    from admet_hpo.data.featurize import FeatureCache
    from admet_hpo.data.training_data import check_training_labels, load_training_data

    pl.seed_everything(config.trainer.seed, workers=True, verbose=False)
    table, split = data if data is not None else load_training_data(config)
    # ``seen``: the table as the loss and the sampler see it under ``config.censored``; evaluation uses
    # ``table`` itself (exact cells and bounds), the same for every mode.
    seen = training_view(table, config.censored, config.sampling.curriculum.censored_quality)
    if config.censored == "drop":
        check_training_labels(
            seen,
            split,
            config.split.method,
            "its training labels are all censored and 'censored: drop' removes them: use 'censored: loss' "
            "or 'as_exact', drop the column from data.target_cols, or change the split",
        )
    train_rows = labelled_rows(seen, split.train)
    val_rows, test_rows = (labelled_rows(table, r) for r in (split.val, split.test))
    if len(val_rows) == 0:
        from admet_hpo.errors import DataValidationError

        raise DataValidationError(f"{table.source}: the validation split has no labelled rows")

    features = FeatureCache()
    descriptors = molecule_descriptors(table.smiles, config.model.descriptors)
    scaler = fit_target_scaler(seen.targets[train_rows])
    train_set = build_molecule_dataset(seen, train_rows, features, descriptors)
    val_set = build_molecule_dataset(seen, val_rows, features, descriptors)
    train_set.normalize_targets(scaler)
    val_set.normalize_targets(scaler)
    # chemprop's X_d convention: scaler fitted on the training split, train and val hold scaled values
    # (the model keeps its X_d_transform off while it trains and validates), evaluation feeds raw ones
    descriptor_scaler = None if descriptors is None else train_set.normalize_inputs("X_d")
    if descriptor_scaler is not None:
        val_set.normalize_inputs("X_d", descriptor_scaler)

    batch_sampler = training_batch_sampler(config, seen.subset(train_rows), plan.world_size, rank)
    train_loader = DataLoader(
        train_set,
        batch_sampler=batch_sampler,
        collate_fn=collate_batch,
        num_workers=config.trainer.num_workers,
    )
    val_loader = evaluation_loader(val_set, config.trainer.batch_size, config.trainer.num_workers)

    model = build_mpnn(
        config.model,
        config.optim,
        len(table.target_names),
        scaler,
        training_criterion(config.censored),
        descriptor_scaler,
    )
    output_dir = Path(config.output_dir)
    checkpoint = ModelCheckpoint(
        dirpath=output_dir / "checkpoints", filename="best", monitor="val_loss", mode="min", save_last=True
    )
    trainer_callbacks: list[pl.Callback] = [SamplerEpochCallback(batch_sampler), checkpoint]
    extra_metrics = []
    if config.sampling.log_weight_statistics:
        extra_metrics.append(lambda: batch_sampler.statistics().as_metrics("sampler/"))
    if batch_sampler.curriculum is not None:
        curriculum = CurriculumCallback(
            batch_sampler.curriculum, config.sampling.curriculum.reset_early_stopping_on_phase_change
        )
        trainer_callbacks.append(curriculum)
        extra_metrics.append(curriculum.metrics)
    history = EpochHistoryCallback(
        val_targets=table.targets[val_rows],
        task_names=table.target_names,
        unscale=scaler.inverse_transform,
        extra_metrics=extra_metrics,
        listeners=list(listeners),
        val_censoring=None if table.censoring is None else table.censoring[val_rows],
    )
    trainer_callbacks.append(history)
    if config.trainer.early_stopping_patience is not None:
        trainer_callbacks.append(
            EarlyStopping(monitor="val_loss", mode="min", patience=config.trainer.early_stopping_patience)
        )
    trainer_callbacks.extend(callbacks)
    show_progress = config.trainer.progress_bar if progress_bar is None else progress_bar
    trainer = pl.Trainer(
        **trainer_arguments(plan),
        max_epochs=config.trainer.max_epochs,
        callbacks=trainer_callbacks,
        logger=False,
        enable_progress_bar=show_progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
        deterministic=True,
        default_root_dir=output_dir,
        num_sanity_val_steps=0,
    )
    # Lightning draws the first epoch's first batch before any epoch hook: set that epoch here.
    batch_sampler.set_epoch(0 if resume_from is None else resume_epoch(resume_from))
    # Our own checkpoints hold chemprop objects (metrics, transforms): load them as full pickles.
    trainer.fit(model, train_loader, val_loader, ckpt_path=resume_from, weights_only=False)
    if rank != 0:
        return None

    best_path = Path(checkpoint.best_model_path)
    best_model = MPNN.load_from_checkpoint(best_path, map_location="cpu")
    raw_val_set = (
        val_set if descriptors is None else build_molecule_dataset(table, val_rows, features, descriptors)
    )
    val_eval = evaluate(best_model, table, val_rows, evaluation_loader(raw_val_set, 256))
    test_eval = (
        evaluate(
            best_model,
            table,
            test_rows,
            evaluation_loader(build_molecule_dataset(table, test_rows, features, descriptors), 256),
        )
        if len(test_rows)
        else ({}, {}, np.empty((0, len(table.target_names))))
    )
    predictions_path = output_dir / "predictions.csv"
    write_predictions(
        predictions_path, table, {"val": (val_rows, val_eval[2]), "test": (test_rows, test_eval[2])}
    )
    model_path = output_dir / "best.pt"
    record_plain_criterion(best_model)
    save_model(model_path, best_model, output_columns=list(table.target_names))
    result = TrainingResult(
        best_val_loss=float(checkpoint.best_model_score),
        epochs_run=trainer.current_epoch,
        history=history.history,
        val_metrics=val_eval[0],
        test_metrics=test_eval[0],
        checkpoint_path=best_path,
        model_path=model_path,
        data_hash=table.content_hash,
        split_hash=split.split_hash,
        task_names=table.target_names,
        val_bounds=val_eval[1],
        test_bounds=test_eval[1],
        device=str(trainer.strategy.root_device),
        predictions_path=predictions_path,
    )
    write_result(result, output_dir / "metrics.json")
    torch.set_grad_enabled(True)
    return result


def evaluate(
    model: MPNN, table: MoleculeTable, rows: np.ndarray, loader: DataLoader
) -> tuple[dict[str, TaskMetrics], dict[str, BoundAgreement], np.ndarray]:
    """Regression metrics over the exact cells of ``table`` rows ``rows``, when the table has bounds
    their bound agreement, and the predictions ``(len(rows), tasks)``; ``loader`` iterates those rows in
    order."""
    predictions = predict(model, loader)
    targets = table.targets[rows]
    censoring = None if table.censoring is None else table.censoring[rows]
    metrics = per_task_metrics(targets, predictions, table.target_names, censoring)
    if censoring is None:
        return metrics, {}, predictions
    return metrics, bound_agreement(targets, predictions, censoring, table.target_names), predictions


def resume_epoch(checkpoint_path: Path) -> int:
    """The epoch a run resumed from ``checkpoint_path`` starts with (epochs already processed)."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    return int(state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])


def write_result(result: TrainingResult, path: Path) -> None:
    """Write the run's summary (best val loss, per-task metrics and their means over tasks, history,
    hashes) as JSON."""
    payload = {
        "best_val_loss": result.best_val_loss,
        "epochs_run": result.epochs_run,
        "checkpoint": str(result.checkpoint_path),
        "model": str(result.model_path),
        "predictions": None if result.predictions_path is None else str(result.predictions_path),
        "data_hash": result.data_hash,
        "split_hash": result.split_hash,
        "device": result.device,
        "val": {task: vars(m) for task, m in result.val_metrics.items()},
        "test": {task: vars(m) for task, m in result.test_metrics.items()},
        "val_mean": task_means(result.val_metrics),
        "test_mean": task_means(result.test_metrics),
        "val_bounds": {task: vars(b) for task, b in result.val_bounds.items()},
        "test_bounds": {task: vars(b) for task, b in result.test_bounds.items()},
        "history": result.history,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float), encoding="utf-8")
