"""``hpo run --workers 2 --gpus-per-worker 1`` gives each real worker process its own GPU through
``CUDA_VISIBLE_DEVICES``, and Lightning trains on the device that worker can see. Without a GPU the
machine's GPU count is overridden (``ADMET_HPO_GPUS``): the workers' environments are still checked,
and Lightning's ``accelerator: auto`` falls back to the CPU (no device is visible to torch)."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from optuna.trial import TrialState
from worker_support import load_trials, running, start_hpo, write_study

from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]


def test_each_launched_worker_sees_its_own_gpu_and_lightning_picks_its_device(tmp_path, monkeypatch) -> None:
    gpus = torch.cuda.device_count()
    if gpus < 2:
        monkeypatch.setenv("ADMET_HPO_GPUS", "2")  # two GPUs to hand out, whatever this machine has
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    study_file = write_study(tmp_path, n_trials=4, max_epochs=2)
    command = ("run", str(study_file), "--workers", "2", "--gpus-per-worker", "1", "-q")
    with running([start_hpo(tmp_path / "logs", "run", *command)]) as (run,):
        assert run.wait() == 0, run.output()
    study = load_study(study_file)
    trials = load_trials(study.storage, versioned_study_name(study))
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4, run.output()
    visible_by_worker: dict[str, set[str]] = defaultdict(set)
    for trial in trials:
        visible_by_worker[trial.user_attrs["worker"]].add(trial.user_attrs["cuda_visible_devices"])
        expected = "cuda:0" if gpus >= 2 else "cpu"  # a worker's own GPU is its cuda:0
        assert trial.user_attrs["device"] == expected
    assert sorted(visible_by_worker.values(), key=sorted) == [{"0"}, {"1"}], visible_by_worker
