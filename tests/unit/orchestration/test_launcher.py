"""Launching worker processes on one machine: their placement, and real workers forked from the fork
server that imported the training stack."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from admet_hpo.errors import ConfigError
from admet_hpo.orchestration import launcher
from admet_hpo.orchestration.session import StudySession

STUDY = SimpleNamespace(
    source=Path("studies/s.yaml"),
    storage="postgresql://db/x",
    mlflow_tracking_uri="http://mlflow:5000",
    output_dir=Path("/runs/s"),
)
SESSION = StudySession(STUDY)  # type: ignore[arg-type]
PRELOAD = ["admet_hpo.cli.worker_preload"]


@pytest.fixture
def no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMET_HPO_GPUS", "0")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.mark.usefixtures("no_gpus")
def test_workers_share_the_cores_and_get_the_resolved_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 8)
    placed = launcher.placements(SESSION, 3, None)
    assert [p.index for p in placed] == [0, 1, 2]
    assert [p.env["OMP_NUM_THREADS"] for p in placed] == ["2", "2", "2"]
    assert all(p.env["ADMET_HPO_STORAGE"] == "postgresql://db/x" for p in placed)
    assert all(p.env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" for p in placed)
    assert all(p.env["ADMET_HPO_OUTPUT"] == "/runs/s" for p in placed)
    assert all("CUDA_VISIBLE_DEVICES" not in p.env for p in placed)


@pytest.mark.usefixtures("no_gpus")
def test_more_workers_than_cores_get_one_thread_and_an_explicit_setting_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 2)
    assert [p.env["OMP_NUM_THREADS"] for p in launcher.placements(SESSION, 3, None)] == ["1"] * 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert [p.env["OMP_NUM_THREADS"] for p in launcher.placements(SESSION, 2, None)] == ["4", "4"]


def test_each_worker_gets_its_share_of_the_gpus_and_too_many_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMET_HPO_GPUS", "4")
    placed = launcher.placements(SESSION, 2, 2)
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in placed] == ["0,1", "2,3"]
    with pytest.raises(ConfigError, match="--gpus-per-worker 5: this machine has 4 GPU"):
        launcher.prepare_workers(
            SESSION, 2, launcher.start_fork_server(PRELOAD), report_placement, (), gpus_per_worker=5
        )


@given(st.text(max_size=6))
@example("²")  # a digit to str.isdigit, not to int() (nor to OpenMP)
@example(" 3 ")
def test_torch_threads_are_a_positive_count_or_torch_keeps_its_default(value: str) -> None:
    threads = launcher.torch_threads({"OMP_NUM_THREADS": value})
    if threads is None:
        assert not (re.fullmatch("[0-9]+", value.strip()) and int(value.strip()) > 0)
    else:
        assert threads == int(value.strip()) and threads > 0
    assert launcher.torch_threads({}) is None


def report_placement(folder: str, status: int, index: int) -> int:
    """A worker body: record what the worker process found when it started, and exit with ``status``."""
    import torch

    record = {
        "index": index,
        "training_imported": "admet_hpo.training.run" in sys.modules,
        "ctrl_c_raises": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        "threads": torch.get_num_threads(),
        "storage": os.environ.get("ADMET_HPO_STORAGE"),
        "cuda_initialised": torch.cuda.is_initialized(),
    }
    (Path(folder) / f"worker-{index}.json").write_text(json.dumps(record))
    return status + index


@pytest.mark.usefixtures("no_gpus")
def test_forked_workers_start_with_the_training_stack_imported_and_their_placement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    context = launcher.start_fork_server(PRELOAD)
    workers = launcher.prepare_workers(SESSION, 2, context, report_placement, (str(tmp_path), 3))
    assert workers.processes == []  # nothing starts before the study is prepared
    workers.start()
    assert workers.wait(poll_seconds=0.2) == [3, 4]  # each worker's own exit status
    records = [json.loads((tmp_path / f"worker-{i}.json").read_text()) for i in (0, 1)]
    assert [r["index"] for r in records] == [0, 1]
    assert all(r["storage"] == "postgresql://db/x" and r["threads"] == 1 for r in records)
    assert all(r["ctrl_c_raises"] and not r["cuda_initialised"] for r in records)
    forked = context.get_start_method() == "forkserver"
    assert all(r["training_imported"] == forked for r in records)
