"""Real chemprop training on the demo data: loss falls, checkpoints reload in chemprop, resume is exact."""

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

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.training import TrainingConfig
from admet_hpo.training.run import train

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
