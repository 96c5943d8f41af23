"""GPUs of one machine shared out among ``hpo run --workers K`` (round-robin CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admet_hpo.errors import ConfigError
from admet_hpo.orchestration.gpus import assign_gpus, gpu_trial_attrs, machine_gpus


def test_one_gpu_per_worker_round_robin_by_default() -> None:
    assert assign_gpus(4, None, ["0", "1"]) == ["0", "1", "0", "1"]
    assert assign_gpus(2, None, ["0", "1", "2"]) == ["0", "1"]


def test_several_gpus_per_worker_are_consecutive_blocks() -> None:
    assert assign_gpus(2, 2, ["0", "1", "2", "3"]) == ["0,1", "2,3"]
    assert assign_gpus(3, 2, ["0", "1", "2", "3"]) == ["0,1", "2,3", "0,1"]


def test_no_gpu_leaves_the_environment_alone_and_zero_hides_the_gpus() -> None:
    assert assign_gpus(3, None, []) == [None, None, None]
    assert assign_gpus(2, 0, ["0", "1"]) == ["", ""]


def test_more_gpus_per_worker_than_the_machine_has_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"--gpus-per-worker 3: this machine has 2 GPU\(s\)"):
        assign_gpus(2, 3, ["0", "1"])
    with pytest.raises(ConfigError, match=r"--gpus-per-worker 1: this machine has 0 GPU\(s\)"):
        assign_gpus(2, 1, [])


@given(workers=st.integers(1, 12), per_worker=st.integers(1, 4), count=st.integers(1, 8))
def test_every_worker_gets_distinct_gpus_and_the_load_is_even(
    workers: int, per_worker: int, count: int
) -> None:
    if per_worker > count:
        return
    devices = [str(i) for i in range(count)]
    assigned = [value.split(",") for value in assign_gpus(workers, per_worker, devices)]  # type: ignore[union-attr]
    assert all(len(set(gpus)) == len(gpus) == per_worker for gpus in assigned)
    load = Counter(gpu for gpus in assigned for gpu in gpus)
    if workers * per_worker >= count:
        assert set(load) == set(devices)  # no GPU idle while some are shared
    assert max(load.values()) - min(load.values()) <= 1


def test_the_machine_gpus_come_from_the_override_or_the_launcher_own_visible_devices() -> None:
    assert machine_gpus({"ADMET_HPO_GPUS": "3"}) == ["0", "1", "2"]
    with pytest.raises(ConfigError, match=r"\$ADMET_HPO_GPUS='two': expected a number of GPUs"):
        machine_gpus({"ADMET_HPO_GPUS": "two"})
    import torch

    visible = machine_gpus({"CUDA_VISIBLE_DEVICES": "5,7"})
    assert visible == ["5", "7"][: torch.cuda.device_count()]


def test_a_trial_records_the_gpus_of_its_worker() -> None:
    assert gpu_trial_attrs({"CUDA_VISIBLE_DEVICES": "1"}) == {"cuda_visible_devices": "1"}
    assert gpu_trial_attrs({}) == {}


def test_gpus_per_worker_needs_launched_workers(tmp_path) -> None:
    from typer.testing import CliRunner

    from admet_hpo.cli import app

    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml"), "--gpus-per-worker", "1"])
    assert result.exit_code == 2 and "--gpus-per-worker needs --workers 2 or more" in result.output


def test_hpo_run_refuses_devices_this_machine_lacks_before_creating_the_study(
    write_yaml, write_space
) -> None:
    from typer.testing import CliRunner

    from admet_hpo.cli import app

    write_space({"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-3}})
    study = write_yaml(
        "study.yaml",
        {
            "name": "s",
            "search_spaces": ["space.yaml"],
            "training": {"data": {"dataset": "demo"}, "trainer": {"accelerator": "cpu", "devices": 999}},
            "n_trials": 2,
            "output_dir": "out",
        },
    )
    result = CliRunner().invoke(app, ["run", str(study)])
    assert result.exit_code == 2 and "trainer.devices: 999 exceeds this machine" in result.output
    assert not (study.parent / "out" / "optuna.db").exists()
