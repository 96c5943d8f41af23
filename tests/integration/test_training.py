"""Real chemprop training on the demo data: loss falls, checkpoints reload in chemprop, resume is exact,
one validation pass per epoch gives val_loss and the per-task metrics."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from chemprop.models import MPNN
from scipy import stats

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.training_data import load_training_data
from admet_hpo.training.prediction import evaluation_loader, predict
from admet_hpo.training.run import labelled_rows, train

pytestmark = pytest.mark.integration


def small_config(output_dir: Path, **sampling: object) -> TrainingConfig:
    """A small, fast config on the demo data (hidden 32, depth 2)."""
    raw = {
        "data": {"dataset": "demo"},
        "model": {"message_hidden_dim": 32, "depth": 2, "ffn_hidden_dim": 32},
        "optim": {"warmup_epochs": 1},
        "trainer": {
            "max_epochs": 6,
            "batch_size": 64,
            "early_stopping_patience": None,
            "progress_bar": False,
        },
        "sampling": sampling,
        "output_dir": str(output_dir),
    }
    return validate_mapping(TrainingConfig, raw, source="test")


JOINT = {
    "task_oversampling": {"enabled": True, "alpha": 0.5},
    "curriculum": {"enabled": True, "patience": 1},
    "batches": {"experiment_aware": True, "leaky": 0.25, "condition_balanced": True},
}


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory: pytest.TempPathFactory):
    return train(small_config(tmp_path_factory.mktemp("joint"), **JOINT))


def test_loss_decreases_and_metrics_cover_every_task(joint_run) -> None:
    history = joint_run.history
    assert len(history) == 6
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert min(h["val_loss"] for h in history) < history[0]["val_loss"]
    assert joint_run.best_val_loss == pytest.approx(min(h["val_loss"] for h in history), rel=1e-5)
    assert set(joint_run.test_metrics) == set(joint_run.task_names)
    assert all(m.n > 0 for m in joint_run.val_metrics.values())
    for key in ("sampler/entropy", "sampler/ess_fraction", "curriculum/phase_index", "val/mean_rmse"):
        assert all(key in h for h in history), key


def test_best_checkpoint_reloads_and_predicts_in_original_units(joint_run) -> None:
    model = MPNN.load_from_checkpoint(joint_run.checkpoint_path, map_location="cpu")
    reloaded = MPNN.load_from_file(joint_run.model_path, map_location="cpu")
    assert model.n_tasks == reloaded.n_tasks == len(joint_run.task_names)


def test_chemprop_predict_cli_loads_the_saved_model(joint_run, tmp_path: Path) -> None:
    smiles = pd.DataFrame({"smiles": ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1"]})
    smiles.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "preds.csv"
    chemprop = Path(sys.executable).with_name("chemprop")
    subprocess.run(
        [
            str(chemprop),
            "predict",
            "-i",
            str(tmp_path / "in.csv"),
            "--model-paths",
            str(joint_run.model_path),
            "-o",
            str(out),
            "--accelerator",
            "cpu",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    predictions = pd.read_csv(out)
    assert list(predictions.columns[1:]) == list(joint_run.task_names)
    assert predictions.iloc[:, 1:].notna().all().all()


class BatchRecorder(pl.Callback):
    """Records a fingerprint of every training batch's targets, per epoch."""

    def __init__(self, stop_after_epoch: int | None = None) -> None:
        self.batches: dict[int, list[str]] = {}
        self.stop_after_epoch = stop_after_epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        digest = hashlib.sha1(np.ascontiguousarray(batch.Y.numpy()).tobytes()).hexdigest()
        self.batches.setdefault(trainer.current_epoch, []).append(digest)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.stop_after_epoch:
            trainer.should_stop = True


def test_resumed_run_draws_and_scores_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = BatchRecorder()
    uninterrupted = train(small_config(tmp_path / "whole", **JOINT), callbacks=[whole])

    first, second = BatchRecorder(stop_after_epoch=2), BatchRecorder()
    interrupted_config = small_config(tmp_path / "parts", **JOINT)
    train(interrupted_config, callbacks=[first])
    resumed = train(
        interrupted_config,
        callbacks=[second],
        resume_from=interrupted_config.output_dir / "checkpoints" / "last.ckpt",
    )
    assert sorted(first.batches) == [0, 1, 2] and sorted(second.batches) == [3, 4, 5]
    assert {**first.batches, **second.batches} == whole.batches
    assert resumed.history[-1]["val_loss"] == pytest.approx(uninterrupted.history[-1]["val_loss"], rel=1e-6)
    phases = [h["curriculum/phase_index"] for h in uninterrupted.history[3:]]
    assert [h["curriculum/phase_index"] for h in resumed.history] == phases
    torch.set_num_threads(2)


class ValidationSpy(pl.Callback):
    """Counts the network's forward passes and the batches of each validation epoch, then predicts the
    validation set itself (uncounted) with the model as it was validated."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self.forwards: dict[int, int] = {}
        self.batches: dict[int, int] = {}
        self.direct: dict[int, np.ndarray] = {}
        self._hook = None

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        self.forwards[epoch] = self.batches[epoch] = 0

        def count(*_: object) -> None:
            self.forwards[epoch] += 1

        self._hook = pl_module.message_passing.register_forward_hook(count)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self.batches[trainer.current_epoch] += 1

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._hook.remove()
        self.direct[trainer.current_epoch] = predict(pl_module, self.loader)


def test_validation_set_is_predicted_once_per_epoch_and_metrics_match_a_direct_computation(
    tmp_path: Path,
) -> None:
    config = small_config(tmp_path / "run", **JOINT)
    config.trainer = config.trainer.model_copy(update={"max_epochs": 3})
    table, split = load_training_data(config)
    val_rows = labelled_rows(table, split.val)
    loader = evaluation_loader(build_molecule_dataset(table, val_rows, FeatureCache()), 64)
    spy = ValidationSpy(loader)

    result = train(config, callbacks=[spy], data=(table, split))

    n_batches = len(loader)
    assert spy.batches == dict.fromkeys(range(3), n_batches)
    assert spy.forwards == spy.batches  # the history callback adds no pass of its own
    y_true = table.targets[val_rows]
    for record in result.history:
        predictions = spy.direct[int(record["epoch"])]
        for t, task in enumerate(table.target_names):
            labelled = np.isfinite(y_true[:, t])
            truth, pred = y_true[labelled, t], predictions[labelled, t]
            assert record[f"val/{task}/rmse"] == pytest.approx(
                np.sqrt(np.mean((truth - pred) ** 2)), rel=1e-5
            )
            assert record[f"val/{task}/mae"] == pytest.approx(np.mean(np.abs(truth - pred)), rel=1e-5)
            assert record[f"val/{task}/pearson_r"] == pytest.approx(stats.pearsonr(truth, pred)[0], abs=1e-5)
            assert record[f"val/{task}/spearman_rho"] == pytest.approx(
                stats.spearmanr(truth, pred)[0], abs=1e-5
            )
        assert record["val/mean_pearson_r"] == pytest.approx(
            np.mean([record[f"val/{task}/pearson_r"] for task in table.target_names])
        )


LEGACY_CONFIG = """\
data: {dataset: demo}
model: {message_hidden_dim: 16, depth: 2, ffn_hidden_dim: 16}
optim: {warmup_epochs: 1}
trainer: {max_epochs: 3, early_stopping_patience: null, progress_bar: false}
optimization: {task_sampling_alpha: 0.7}
curriculum: {qualities: [high, medium, low], patience: 1}
output_dir: legacy-run
"""


def test_legacy_config_and_its_migration_train_identically(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from admet_hpo.cli import app
    from admet_hpo.config.training import load_training_config

    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(LEGACY_CONFIG, encoding="utf-8")
    migrated = tmp_path / "migrated.yaml"
    result = CliRunner().invoke(app, ["config", "migrate", str(legacy), "-o", str(migrated)])
    assert result.exit_code == 0, result.output
    assert "task_sampling_alpha" not in migrated.read_text() and "task_oversampling" in migrated.read_text()

    with pytest.warns(DeprecationWarning, match="task_sampling_alpha"):
        legacy_config = load_training_config(legacy)
    migrated_config = load_training_config(migrated)
    migrated_config.output_dir = tmp_path / "migrated-run"
    assert legacy_config.sampling == migrated_config.sampling
    old, new = train(legacy_config), train(migrated_config)
    assert [h["val_loss"] for h in old.history] == [h["val_loss"] for h in new.history]


def test_hpo_train_cli_prints_the_per_task_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from admet_hpo.cli import app

    config = tmp_path / "train.yaml"
    config.write_text(
        "data: {dataset: demo}\nmodel: {message_hidden_dim: 16, depth: 2, ffn_hidden_dim: 16}\n"
        "optim: {warmup_epochs: 1}\ntrainer: {max_epochs: 2, early_stopping_patience: null}\n"
        "output_dir: out\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["train", str(config), "--quiet"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "best val_loss" in result.output and "permeability" in result.output
    assert (tmp_path / "out" / "best.pt").is_file() and (tmp_path / "out" / "metrics.json").is_file()


def test_hpo_train_cli_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from admet_hpo.cli import app

    config = tmp_path / "bad.yaml"
    config.write_text("data: {dataset: demo}\nmodel: {depth: 0}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(config)])
    assert result.exit_code == 2
    assert "bad.yaml: model.depth" in result.output and "Traceback" not in result.output
