"""``hpo slurm --submit`` on a real one-node SLURM cluster: a 2-task job array of real ``hpo worker``s
finishes an exact budget on PostgreSQL, one MLflow run per trial, each trial tagged with its array task,
and the sbatch script holds no secret. The cluster is started by the test (``slurm_support``) and
skipped with the reason where it cannot run."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from slurm_support import SlurmCluster, slurm_cluster
from worker_support import (
    PROCESS_TIMEOUT_S,
    load_trials,
    mlflow_trial_runs,
    postgres_database,
    postgres_role,
    running,
    start_hpo,
    wait_until,
    write_study,
)

from admet_hpo.config.study import load_study
from admet_hpo.search.versioning import versioned_study_name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

SECRET = "Slurm-Secret-Not-In-Scripts"
BUDGET = 4
TASKS = 2


@dataclass
class ArrayRun:
    cluster: SlurmCluster
    job_id: str
    output: str
    script: str
    storage: str
    tracking_uri: str
    study_name: str
    trials: list[optuna.trial.FrozenTrial]
    logs: dict[str, str]
    status: str


@pytest.fixture(scope="module")
def array_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArrayRun]:
    folder = tmp_path_factory.mktemp("slurm-array")
    with (
        slurm_cluster() as cluster,
        postgres_database() as study_db,
        postgres_database("admet_hpo_mlflow") as mlflow_db,
        postgres_role([study_db, mlflow_db], SECRET) as role,
        pytest.MonkeyPatch.context() as patch,
    ):
        storage, tracking_uri = study_db.url(role, SECRET), mlflow_db.url(role, SECRET)
        study_file = write_study(folder, n_trials=BUDGET, max_epochs=2, tracking_uri="${HPO_MLFLOW_URI}")
        env_file = folder / "hpo.env"
        env_file.write_text(
            "# secrets for the array tasks\n"
            f"ADMET_HPO_STORAGE='{storage}'\nexport HPO_MLFLOW_URI='{tracking_uri}'\n",
            encoding="utf-8",
        )
        env_file.chmod(0o600)
        patch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])  # for hpo slurm's sbatch, inherited by tasks
        patch.setenv("HPO_MLFLOW_URI", tracking_uri)  # for this test's own loading of the study file
        patch.setenv("COLUMNS", "200")  # hpo status's table unwrapped
        script = folder / "array.sbatch"
        logs = folder / "logs"
        with running(
            [
                start_hpo(
                    logs,
                    "slurm",
                    "slurm",
                    str(study_file),
                    "--array",
                    str(TASKS),
                    "--env-file",
                    str(env_file),
                    "--time",
                    "00:10:00",
                    "--output",
                    str(script),
                    "--submit",
                )
            ]
        ) as (submitter,):
            assert submitter.wait() == 0, submitter.output()
        output = submitter.output()
        match = re.search(r"submitted job (\d+)", output)
        assert match is not None, output
        job_id = match[1]
        try:
            wait_until(lambda: not cluster.job_running(job_id), 2 * PROCESS_TIMEOUT_S, "the job array", 2.0)
        finally:
            cluster.run("scancel", job_id)  # nothing left behind if the wait failed
        study_name = versioned_study_name(load_study(study_file))
        status_command = ("status", str(study_file), "--storage", storage)
        with running([start_hpo(logs, "status", *status_command)]) as (status,):
            status.wait()
        task_logs = {p.name: p.read_text(errors="replace") for p in (folder / "out" / "slurm").glob("*.out")}
        yield ArrayRun(
            cluster=cluster,
            job_id=job_id,
            output=output,
            script=script.read_text(encoding="utf-8"),
            storage=storage,
            tracking_uri=tracking_uri,
            study_name=study_name,
            trials=load_trials(storage, study_name),
            logs=task_logs,
            status=status.output(),
        )


def test_the_array_finishes_exactly_the_budget_with_every_task_working(array_run: ArrayRun) -> None:
    states = Counter(t.state for t in array_run.trials)
    details = "\n".join(f"{name}:\n{text[-2000:]}" for name, text in array_run.logs.items())
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == BUDGET, f"{states}\n{details}"
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0
    assert {t.user_attrs["slurm_array_job_id"] for t in array_run.trials} == {array_run.job_id}
    tasks = {t.user_attrs["slurm_array_task_id"] for t in array_run.trials}
    assert tasks == {str(task) for task in range(TASKS)}, f"trials ran on tasks {tasks} only\n{details}"
    assert sorted(array_run.logs) == [f"hpo-workers-{array_run.job_id}_{task}.out" for task in range(TASKS)]


def test_every_trial_has_exactly_one_mlflow_run(array_run: ArrayRun) -> None:
    runs = {run.info.run_id for run in mlflow_trial_runs(array_run.tracking_uri, array_run.study_name)}
    linked = [t.user_attrs["mlflow_run_id"] for t in array_run.trials]
    assert len(linked) == len(set(linked)) == len(runs) and set(linked) == runs


def test_status_shows_the_slurm_task_of_every_trial(array_run: ArrayRun) -> None:
    assert "slurm task" in array_run.status, array_run.status
    for trial in array_run.trials:
        assert f"{array_run.job_id}_{trial.user_attrs['slurm_array_task_id']}" in array_run.status


def test_the_script_runs_one_worker_per_task_and_holds_no_secret(array_run: ArrayRun) -> None:
    script = array_run.script
    assert "#SBATCH --array=0-1" in script and "#SBATCH --time=00:10:00" in script
    assert '--worker-index "$SLURM_ARRAY_TASK_ID"' in script
    assert SECRET not in script and SECRET not in array_run.output
    assert all(SECRET not in text for text in array_run.logs.values())
    assert Path(array_run.cluster.conf).is_file()  # the cluster's files exist until the module ends
