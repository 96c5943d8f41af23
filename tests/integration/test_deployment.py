"""The docker compose deployment run natively: the commands of docker-compose.yml's services, as real
processes, against a fresh PostgreSQL database and a real MLflow tracking server.

Order as compose starts them: mlflow (healthy) -> init (`hpo run`, creates the study) -> dashboard and
two workers -> the scheduler, made to fire at once and stop after one night. Each command is read from
docker-compose.yml; only what differs outside a container is replaced (the study file, container paths,
0.0.0.0, ports). Everything started is stopped and the database dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from dashboard_support import free_port, get_json
from optuna.trial import TrialState

from admet_hpo.config.study import load_study
from admet_hpo.orchestration.nightly import trial_night
from admet_hpo.search.versioning import versioned_study_name
from admet_hpo.tracking.keys import (
    WORKER_ATTR,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
STUDY_BUDGET, NIGHT_BUDGET, WORKERS = 4, 2, 2
STARTUP_TIMEOUT_S, PROCESS_TIMEOUT_S = 60.0, 240.0
RUN_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}


# ------------------------------------------------------------------------------------------- PostgreSQL


def _admin():
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new database on the local server (trust auth, user postgres), dropped afterwards; its URL."""
    import psycopg

    name = f"admet_hpo_test_{secrets.token_hex(6)}"
    try:
        with _admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _admin() as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


# -------------------------------------------------------------------------------------------- processes


@dataclass
class Service:
    """A started command, its own process group (it may start children), and its output file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = PROCESS_TIMEOUT_S) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not finish within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the group (what ``docker stop`` sends), then SIGKILL to what is left."""
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):  # children of a process that already exited
            os.killpg(self.process.pid, signal.SIGKILL)


class Deployment:
    """Starts compose services' commands as local processes; stops every one of them on exit."""

    def __init__(self, folder: Path, replacements: dict[str, str], env: dict[str, str]) -> None:
        self.folder = folder
        self.replacements = replacements
        self.env = env
        self.services: list[Service] = []

    def command(self, service: str, port: int | None = None) -> list[str]:
        """The service's compose command with local replacements (and ``port`` as its ``--port``); the
        executable from this environment."""
        argv = [str(part) for part in COMPOSE[service]["command"]]
        for old, new in self.replacements.items():
            argv = [part.replace(old, new) for part in argv]
        if port is not None:
            argv[argv.index("--port") + 1] = str(port)
        return [str(BIN / argv[0]), *argv[1:]]

    def start(
        self, service: str, extra: tuple[str, ...] = (), *, port: int | None = None, label: str | None = None
    ) -> Service:
        """Start a compose service's command (``extra`` arguments appended) with compose's environment
        for it, then the local URLs."""
        compose_env = {key: str(value) for key, value in COMPOSE[service].get("environment", {}).items()}
        return self._spawn(label or service, [*self.command(service, port), *extra], compose_env)

    def run_hpo(self, label: str, *arguments: str) -> Service:
        """Start an ``hpo`` command that is not a compose service, with the local URLs."""
        return self._spawn(label, [str(BIN / "hpo"), *arguments], {})

    def _spawn(self, label: str, argv: list[str], env: dict[str, str]) -> Service:
        log = self.folder / f"{label}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env, **self.env},
                cwd=REPO,
                start_new_session=True,
            )
        started = Service(label, process, log)
        self.services.append(started)
        return started

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()


def wait_for(what: str, ready: Callable[[], bool], service: Service) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            if ready():
                return
        if service.process.poll() is not None:
            pytest.fail(f"{service.name} exited ({service.process.returncode}):\n{service.output()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready within {STARTUP_TIMEOUT_S:.0f} s:\n{service.output()[-3000:]}")
        time.sleep(0.5)


def http_status(url: str, host: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# -------------------------------------------------------------------------------------------- the study


def write_study(folder: Path) -> Path:
    """A tiny version of deploy/nightly.yaml: storage and tracking from the environment, no seed."""
    deployed = yaml.safe_load((REPO / "deploy" / "nightly.yaml").read_text(encoding="utf-8"))
    (folder / "space.yaml").write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "max_lr": {
                        "path": "optim.max_lr",
                        "type": "float",
                        "low": 1e-4,
                        "high": 5e-3,
                        "log": True,
                    },
                    "alpha": {
                        "path": "sampling.task_oversampling.alpha",
                        "type": "float",
                        "low": 0.0,
                        "high": 1.0,
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    study = {
        "name": "deployment",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},
        "n_trials": STUDY_BUDGET,
        "output_dir": "runs",
        "storage": deployed["storage"],
        "mlflow": deployed["mlflow"],
        "heartbeat": {"interval": 5},
        "nightly": {"n_trials": NIGHT_BUDGET, "warm_start_top_k": 1},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@dataclass
class Deployed:
    storage: str
    tracking_uri: str
    study_name: str
    dashboard_url: str
    mlflow_url: str
    exit_codes: dict[str, int]
    nights: tuple[str, str]  # the dates a night fired by the scheduler may carry (around midnight UTC)
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("deployment")
    study_file = write_study(folder)
    mlflow_port, dashboard_port = free_port(), free_port()
    replacements = {
        "deploy/nightly.yaml": str(study_file),
        "/opt/admet-hpo/mlflow": str(folder / "mlflow"),
        "0.0.0.0": "127.0.0.1",
    }
    with fresh_database() as storage:
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        env = {"ADMET_HPO_STORAGE": storage, "MLFLOW_TRACKING_URI": mlflow_url, "OMP_NUM_THREADS": "1"}
        with pytest.MonkeyPatch.context() as patch:  # the study file's URLs come from the environment
            for key, value in env.items():
                patch.setenv(key, value)
            study_name = versioned_study_name(load_study(study_file))
        deployment = Deployment(folder, replacements, env)
        try:
            server = deployment.start("mlflow", port=mlflow_port)
            wait_for("MLflow server", lambda: http_status(f"{mlflow_url}/health") == 200, server)
            init = deployment.start("init")
            exit_codes = {"init": init.wait()}
            assert exit_codes["init"] == 0, init.output()
            dashboard = deployment.start("dashboard", port=dashboard_port)
            workers = [deployment.start("worker", label=f"worker-{i}") for i in range(WORKERS)]
            exit_codes |= {worker.name: worker.wait() for worker in workers}
            before = datetime.now(UTC).date()
            scheduler = deployment.start("scheduler", ("--cron", "* * * * * *", "--max-runs", "1"))
            exit_codes["scheduler"] = scheduler.wait()
            after = datetime.now(UTC).date()
            trials = optuna.load_study(study_name=study_name, storage=storage).trials
            night = min({trial_night(t) for t in trials} - {None})
            again = deployment.run_hpo("nightly-again", "nightly", str(study_file), "--date", night, "-q")
            exit_codes["nightly-again"] = again.wait()
            dashboard_url = f"http://127.0.0.1:{dashboard_port}"
            wait_for(
                "dashboard", lambda: "study_summaries" in get_json(f"{dashboard_url}/api/studies"), dashboard
            )
            yield Deployed(
                storage=storage,
                tracking_uri=mlflow_url,
                study_name=study_name,
                dashboard_url=dashboard_url,
                mlflow_url=mlflow_url,
                exit_codes=exit_codes,
                nights=(before.isoformat(), after.isoformat()),
                outputs={service.name: service.output() for service in deployment.services},
            )
        finally:
            deployment.stop_all()


def test_every_service_command_ran_and_exited_cleanly(deployed: Deployed) -> None:
    services = ["init", "worker-0", "worker-1", "scheduler", "nightly-again"]
    assert deployed.exit_codes == dict.fromkeys(services, 0), deployed.outputs
    assert "scheduler stopped after 1 night(s)" in deployed.outputs["scheduler"]


def test_a_second_nightly_call_from_another_process_adds_nothing(deployed: Deployed) -> None:
    output = " ".join(deployed.outputs["nightly-again"].split())
    night = next(day for day in deployed.nights if f"night {day} of study" in output)
    assert f"the budget of night {night} is spent ({NIGHT_BUDGET} finished trial(s)" in output
    assert "added 0" in output


def test_workers_and_one_night_ran_their_budgets_on_postgresql(deployed: Deployed) -> None:
    trials = optuna.load_study(study_name=deployed.study_name, storage=deployed.storage).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    by_night = [t for t in finished if trial_night(t) is not None]
    assert len(finished) - len(by_night) == STUDY_BUDGET  # init's trial + the workers' share
    assert len(by_night) == NIGHT_BUDGET and {trial_night(t) for t in by_night} <= set(deployed.nights)
    assert all(t.state in RUN_STATUS for t in trials)  # nothing left RUNNING or WAITING
    assert len({t.number for t in trials}) == len(trials)
    processes = {t.user_attrs[WORKER_ATTR] for t in finished if trial_night(t) is None}
    assert len(processes) >= 2, processes  # init's trial and the workers' ran in different processes


def test_every_trial_is_tracked_on_the_mlflow_server_with_its_state(deployed: Deployed) -> None:
    client = mlflow.MlflowClient(deployed.tracking_uri)
    trials = optuna.load_study(study_name=deployed.study_name, storage=deployed.storage).get_trials()
    for trial in trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == RUN_STATUS[trial.state]
        assert run.data.tags["optuna.study_name"] == deployed.study_name
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
    experiment = client.get_experiment_by_name(deployed.study_name)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # artifacts go through the server


def test_the_mlflow_server_answers_its_compose_service_name_only_among_unknown_hosts(
    deployed: Deployed,
) -> None:
    search = f"{deployed.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert http_status(search, host="mlflow:5000") == 200  # how workers reach it inside compose
    assert http_status(search, host="attacker.example:5000") == 403


def test_the_dashboard_lists_the_study(deployed: Deployed) -> None:
    summaries = get_json(f"{deployed.dashboard_url}/api/studies")["study_summaries"]
    assert deployed.study_name in [summary["study_name"] for summary in summaries]
    assert "storage: postgresql+psycopg://postgres@127.0.0.1:5432/" in " ".join(
        deployed.outputs["dashboard"].split()
    )
