"""``trainer.accelerator`` / ``trainer.devices`` bounded by the machine before Lightning sees them, and the
Lightning arguments built from them (cluster environment, DDP strategy, the srun warning)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.plugins.environments import LightningEnvironment
from lightning.pytorch.strategies import DDPStrategy
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.training import TrainerConfig
from admet_hpo.errors import ConfigError
from admet_hpo.training.devices import DevicePlan, plan_devices, trainer_arguments, usable_cpus


@pytest.mark.parametrize(
    ("accelerator", "devices", "gpus", "expected"),
    [
        ("cpu", 1, 0, DevicePlan("cpu", 1, 1)),
        ("cpu", 2, 4, DevicePlan("cpu", 2, 2)),
        ("auto", "2", 0, DevicePlan("cpu", 2, 2)),
        ("auto", "auto", 0, DevicePlan("cpu", 1, 1)),  # Lightning's CPU auto: one process
        ("auto", 1, 2, DevicePlan("cuda", 1, 1)),  # auto picks the GPU
        ("gpu", "auto", 3, DevicePlan("cuda", 3, 3)),
        ("cuda", -1, 2, DevicePlan("cuda", 2, 2)),
        ("cuda", "0,2", 3, DevicePlan("cuda", [0, 2], 2)),
    ],
)
def test_devices_within_the_machine_resolve(
    accelerator: str, devices: int | str, gpus: int, expected: DevicePlan
) -> None:
    trainer = TrainerConfig(accelerator=accelerator, devices=devices)  # type: ignore[arg-type]
    assert plan_devices(trainer, cpus=2, gpus=gpus) == expected


@pytest.mark.parametrize(
    ("accelerator", "devices", "gpus", "message"),
    [
        ("cpu", 999, 0, r"trainer.devices: 999 exceeds this machine: it has 2 usable CPU core\(s\)"),
        ("auto", 3, 2, r"trainer.devices: 3 exceeds this machine: it has 2 visible GPU\(s\)"),
        ("cpu", 0, 0, r"trainer.devices: 0 is not a number of CPU processes"),
        ("cpu", "banana", 0, r"trainer.devices: 'banana' is not a number of CPU processes"),
        ("cpu", -1, 0, r"trainer.devices: -1 is not a number of CPU processes"),
        ("cpu", "0,1", 2, r"trainer.devices: '0,1' is not a number of CPU processes"),
        ("cuda", "0,4", 2, r"trainer.devices: '0,4' names GPU 4; this machine has 2 visible GPU\(s\)"),
        ("cuda", "1,1", 2, r"not a list of distinct GPU indices"),
        ("gpu", 1, 0, r"trainer.accelerator: 'gpu' but this machine has no visible GPU"),
    ],
)
def test_devices_beyond_the_machine_are_config_errors_naming_the_key(
    accelerator: str, devices: int | str, gpus: int, message: str
) -> None:
    trainer = TrainerConfig(accelerator=accelerator, devices=devices)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        plan_devices(trainer, cpus=2, gpus=gpus)


def test_the_default_bound_is_this_process_cpu_affinity() -> None:
    trainer = TrainerConfig(accelerator="cpu", devices=usable_cpus() + 1)
    with pytest.raises(ConfigError, match=rf"it has {usable_cpus()} usable CPU core"):
        plan_devices(trainer)


def test_an_unknown_accelerator_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("data: {dataset: demo}\ntrainer: {accelerator: banana}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(config)])
    assert result.exit_code == 2, result.output
    assert "trainer.accelerator" in result.output and "'auto', 'cpu', 'gpu' or 'cuda'" in result.output
    assert "Traceback" not in result.output


def test_hpo_train_refuses_999_devices_before_lightning_forks_anything(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("data: {dataset: demo}\ntrainer: {accelerator: cpu, devices: 999}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(config), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "trainer.devices: 999 exceeds this machine" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_one_process_uses_lightnings_plain_environment_outside_slurm(monkeypatch) -> None:
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    arguments = trainer_arguments(DevicePlan("cpu", 1, 1))
    assert arguments["accelerator"] == "cpu" and arguments["devices"] == 1 and "strategy" not in arguments
    assert [type(plugin) for plugin in arguments["plugins"]] == [LightningEnvironment]


def test_inside_a_slurm_job_step_lightning_keeps_its_slurm_environment(monkeypatch) -> None:
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "hpo-study")
    assert trainer_arguments(DevicePlan("cpu", 1, 1))["plugins"] == []
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")  # SLURM's documented opt-out
    assert [type(p) for p in trainer_arguments(DevicePlan("cpu", 1, 1))["plugins"]] == [LightningEnvironment]


def test_several_devices_train_with_ddp_finding_unused_parameters_over_gloo_on_cpu() -> None:
    strategy = trainer_arguments(DevicePlan("cpu", 2, 2))["strategy"]
    assert isinstance(strategy, DDPStrategy)
    assert strategy._ddp_kwargs["find_unused_parameters"] is True
    assert strategy.process_group_backend == "gloo"
    assert isinstance(strategy.cluster_environment, LightningEnvironment)
    assert trainer_arguments(DevicePlan("cuda", [0, 1], 2))["strategy"].process_group_backend == "nccl"


def test_lightning_no_longer_warns_about_an_unused_srun_outside_slurm(tmp_path: Path, monkeypatch) -> None:
    fake_srun = tmp_path / "srun"
    fake_srun.write_text("#!/bin/sh\n", encoding="utf-8")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.delenv("SLURM_NTASKS", raising=False)

    def srun_warnings(prepare: bool) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if prepare:
                trainer_arguments(DevicePlan("cpu", 1, 1))
            SLURMEnvironment.detect()  # what Lightning's checkpoint connector calls on every fit
        return [str(w.message) for w in caught if "srun" in str(w.message)]

    assert srun_warnings(prepare=False), "Lightning did not warn: this test would prove nothing"
    assert srun_warnings(prepare=True) == []
