"""DDP inside one training on CPU (gloo, 2 processes forked by ``RankProcesses``): the ranks draw disjoint
batch positions in equal numbers, only rank 0 reports and writes, a pruned trial stops every rank, and
the result matches a one-process run of the same global batch size within a stated tolerance."""

from __future__ import annotations

import os
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import optuna
import pytest
import torch.distributed
import yaml
from optuna.trial import TrialState
from worker_support import load_trials, mlflow_trial_runs, running, start_hpo, write_study

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.study import load_study
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.training_data import load_training_data
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.training.devices import RankProcesses, plan_devices, trainer_arguments
from admet_hpo.training.run import labelled_rows, train, training_batch_sampler

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EPOCHS = 4
#: Two ranks of batch 32 against one process of batch 64 (the same samples per optimizer step, drawn in
#: a different order): the best validation losses agree within this relative tolerance (measured: 0.06%).
TOLERANCE = 0.02


def config(output_dir: Path, devices: int, batch_size: int, **sampling: object) -> TrainingConfig:
    raw = {
        "data": {"dataset": "demo"},
        "model": {"message_hidden_dim": 32, "depth": 2, "ffn_hidden_dim": 32},
        "optim": {"warmup_epochs": 1},
        "trainer": {
            "max_epochs": EPOCHS,
            "batch_size": batch_size,
            "early_stopping_patience": None,
            "progress_bar": False,
            "accelerator": "cpu",
            "devices": devices,
        },
        "sampling": sampling,
        "output_dir": str(output_dir),
    }
    return validate_mapping(TrainingConfig, raw, source="test")


def assert_no_child_left() -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every forked rank has exited and been reaped


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("DDP with 2 CPU processes needs 2 usable cores")
    folder = tmp_path_factory.mktemp("ddp")
    epochs_seen: list[int] = []
    ddp = train(config(folder / "ddp", 2, 32), listeners=[lambda epoch, _: epochs_seen.append(epoch)])
    single = train(config(folder / "single", 1, 64))
    return ddp, single, epochs_seen, folder


def test_two_ranks_match_one_process_within_the_tolerance(runs) -> None:
    ddp, single, _, _ = runs
    assert ddp.best_val_loss == pytest.approx(single.best_val_loss, rel=TOLERANCE)
    assert len(ddp.history) == len(single.history) == EPOCHS
    assert ddp.history[-1]["train_loss"] < ddp.history[0]["train_loss"]


def test_only_rank_zero_reports_and_writes(runs) -> None:
    ddp, _, epochs_seen, folder = runs
    assert epochs_seen == list(range(EPOCHS))  # the caller's listener ran once per epoch, in this process
    assert ddp.device == "cpu" and ddp.checkpoint_path.is_file() and ddp.model_path.is_file()
    assert sorted(p.name for p in (folder / "ddp" / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert_no_child_left()
    assert not torch.distributed.is_initialized()  # the next training starts a fresh process group


@pytest.mark.parametrize(
    "sampling", [{}, {"task_oversampling": {"enabled": True, "alpha": 0.5}}], ids=["plain", "oversampled"]
)
def test_each_rank_draws_disjoint_batch_positions_in_equal_numbers(tmp_path: Path, sampling: dict) -> None:
    cfg = config(tmp_path, 2, 16, **sampling)
    table, split = load_training_data(cfg)
    train_table = table.subset(labelled_rows(table, split.train))
    plan = plan_devices(cfg.trainer)
    with RankProcesses(plan.world_size) as rank:
        trainer = pl.Trainer(**trainer_arguments(plan), max_epochs=1, logger=False, enable_progress_bar=False)
        assert (trainer.global_rank, trainer.world_size) == (rank, 2)  # Lightning sees the forked ranks
        sampler = training_batch_sampler(cfg, train_table, trainer.world_size, trainer.global_rank)
        sampler.set_epoch(3)
        torch.distributed.init_process_group("gloo")
        gathered: list[list[list[int]]] = [[], []]
        torch.distributed.all_gather_object(gathered, [list(map(int, batch)) for batch in sampler])
    assert_no_child_left()
    first, second = (np.array(batches) for batches in gathered)
    assert first.shape == second.shape and first.shape[1] == 16 and len(first) == len(sampler)
    whole = training_batch_sampler(cfg, train_table, 2, 0).global_batches(3)
    for step in range(len(first)):  # each step: rank 0 and rank 1 take consecutive global batches
        np.testing.assert_array_equal(first[step], whole[2 * step])
        np.testing.assert_array_equal(second[step], whole[2 * step + 1])
    if not sampling:  # one permutation per epoch: the ranks' rows are disjoint too
        assert not set(first.ravel()) & set(second.ravel())


def test_a_pruned_ddp_trial_stops_every_rank_at_the_same_epoch(tmp_path: Path) -> None:
    seen: list[int] = []

    def prune_at_one(epoch: int, metrics: dict[str, float]) -> None:
        seen.append(epoch)
        if epoch == 1:
            raise optuna.TrialPruned("pruned at epoch 1")

    with pytest.raises(optuna.TrialPruned):
        train(config(tmp_path, 2, 32), listeners=[prune_at_one])
    assert seen == [0, 1]
    assert_no_child_left()  # the other rank was stopped, not left waiting for rank 0
    assert not torch.distributed.is_initialized()


def test_a_failing_rank_fails_the_training(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"DDP rank\(s\) \[1\] of 2 failed"), RankProcesses(2) as rank:
        if rank == 1:
            raise ValueError("rank 1 fails")
    assert_no_child_left()


def test_a_study_whose_trials_train_on_two_ranks_reports_each_epoch_once(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, n_trials=2, max_epochs=3)
    raw = yaml.safe_load(study_file.read_text(encoding="utf-8"))
    raw["training"]["trainer"] |= {"accelerator": "cpu", "devices": 2}
    study_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with running([start_hpo(tmp_path / "logs", "run", "run", str(study_file), "-q")]) as (run,):
        assert run.wait() == 0, run.output()
    study = load_study(study_file)
    trials = load_trials(study.storage, versioned_study_name(study))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, run.output()
    for trial in trials:  # one Optuna report per epoch, from rank 0 only
        assert sorted(trial.intermediate_values) == [0, 1, 2]
        assert trial.user_attrs["epochs_run"] == 3 and trial.user_attrs["device"] == "cpu"
    runs = mlflow_trial_runs(study.mlflow_tracking_uri, versioned_study_name(study))
    assert sorted(r.data.tags["optuna.trial_number"] for r in runs) == ["0", "1"]
