"""``hpo storage-proxy`` in front of PostgreSQL and ``hpo run --workers 4 --storage grpc://...``: four
real workers finish an exact budget through Optuna's gRPC proxy, one MLflow run per trial, while the only
lasting database connections are the proxy's own pool (the workers' budget lock connects per admission)."""

from __future__ import annotations

import socket
import threading
from collections import Counter

import pytest
from optuna.trial import TrialState
from worker_support import (
    free_port,
    load_trials,
    mlflow_trial_runs,
    postgres_database,
    running,
    start_hpo,
    wait_until,
    write_study,
)

from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.storage.rdb import APPLICATION_NAME, LOCK_APPLICATION, POOL_MAX_OVERFLOW, POOL_SIZE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

BUDGET = 6
WORKERS = 4


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_four_workers_through_the_proxy_finish_exactly_the_budget(tmp_path) -> None:
    with postgres_database() as study_db, postgres_database("admet_hpo_mlflow") as mlflow_db:
        study_file = write_study(
            tmp_path, n_trials=BUDGET, max_epochs=2, storage=study_db.url(), tracking_uri=mlflow_db.url()
        )
        port = free_port()
        logs = tmp_path / "logs"
        proxy = start_hpo(logs, "proxy", "storage-proxy", str(study_file), "--port", str(port))
        with running([proxy]):
            wait_until(lambda: _listening(port) or proxy.process.poll() is not None, 120, "the proxy")
            assert proxy.process.poll() is None, proxy.output()
            command = (
                "run",
                str(study_file),
                "--workers",
                str(WORKERS),
                "--storage",
                f"grpc://127.0.0.1:{port}",
            )
            samples: list[Counter[str]] = []
            with running([start_hpo(logs, "run", *command, "-q")]) as (run,):
                done = threading.Event()

                def sample() -> None:
                    while not done.wait(0.5):
                        rows = study_db.admin(
                            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s"
                            " GROUP BY application_name",
                            (study_db.name,),
                        )
                        samples.append(Counter(dict(rows)))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                try:
                    exit_code = run.wait(480)
                finally:
                    done.set()
                    sampler.join(10)
            assert exit_code == 0, run.output() + proxy.output()
            assert "no study lock" not in run.output()  # the lock is on the study file's database
        study = load_study(study_file)
        trials = load_trials(study_db.url(), versioned_study_name(study))
        states = Counter(t.state for t in trials)
        assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == BUDGET, (states, run.output())
        assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0
        workers = {t.user_attrs["worker"] for t in trials}
        assert len(workers) >= 2, f"the trials ran in one worker only: {workers}"
        runs = {r.info.run_id for r in mlflow_trial_runs(mlflow_db.url(), versioned_study_name(study))}
        assert {t.user_attrs["mlflow_run_id"] for t in trials} == runs and len(runs) == len(trials)
        assert samples, "the connections were never sampled"
        assert max(s[APPLICATION_NAME] for s in samples) <= POOL_SIZE + POOL_MAX_OVERFLOW  # the proxy's pool
        assert max(s[LOCK_APPLICATION] for s in samples) <= WORKERS  # at most one short lock each


def test_a_worker_pointed_at_no_proxy_stops_with_a_clear_error(tmp_path) -> None:
    study_file = write_study(tmp_path, n_trials=1)
    port = free_port()
    with running(
        [
            start_hpo(
                tmp_path / "logs", "w", "worker", str(study_file), "--storage", f"grpc://127.0.0.1:{port}"
            )
        ]
    ) as (worker,):
        assert worker.wait() == 2
    assert f"no storage proxy answers at grpc://127.0.0.1:{port}" in worker.output()
    assert "Traceback" not in worker.output()
