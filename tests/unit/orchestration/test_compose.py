"""docker-compose.yml, Dockerfile, .env.example and deploy/nightly.yaml checked without a Docker engine.

Every service command must parse as a real invocation of the installed ``hpo`` / ``mlflow`` CLIs (click
parses the exact arguments), every variable must come from .env.example, every port must listen on
127.0.0.1, no password may be written down, and the image must hold what the commands use.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from admet_hpo.config.study import load_study
from admet_hpo.search.space import space_hash

from .cli_parsing import assert_real_invocation

REPO = Path(__file__).resolve().parents[3]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
# ${NAME}, ${NAME:-default}, ${NAME:?error}; "$${" is compose's escape for a literal "${".
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ``value`` with ``env`` (fails the test where compose would fail)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op in (":?", "?") and not current:
            pytest.fail(f"compose would refuse to start: {arg}")
        if op in (":-", "-") and not current:
            return arg
        assert current is not None, f"${{{name}}} is not defined"
        return current

    return VARIABLE.sub(replace, value).replace("$$", "$")


def example_env(password: str = "s3cretPassw0rd") -> dict[str, str]:
    """.env.example as a user fills it in: a password set."""
    return {**env_example(), "POSTGRES_PASSWORD": password}


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


COMMANDED = sorted(name for name, service in SERVICES.items() if "command" in service)


def test_the_deployment_has_every_service() -> None:
    assert set(SERVICES) == {"postgres", "mlflow", "init", "worker", "scheduler", "dashboard"}
    assert [name for name in SERVICES if name not in COMMANDED] == ["postgres"]  # the image's own server
    for name in COMMANDED:
        assert SERVICES[name]["build"] == "." and SERVICES[name]["image"] == SERVICES["worker"]["image"]


@pytest.mark.parametrize("service", COMMANDED)
def test_every_service_command_is_a_real_invocation(service: str) -> None:
    assert_real_invocation(command_of(service), service)


def test_the_hpo_services_use_the_deploy_study_which_loads_in_the_containers_environment(monkeypatch) -> None:
    env = example_env()
    for name in ("init", "worker", "scheduler", "dashboard"):
        argv = command_of(name)
        assert argv[2] == "deploy/nightly.yaml"
        for key, value in environment_of(name).items():
            monkeypatch.setenv(key, interpolate(value, env))
    study = load_study(REPO / "deploy" / "nightly.yaml")
    storage = make_url(study.storage)
    assert storage.drivername == "postgresql+psycopg" and storage.host == "postgres"
    assert (storage.username, storage.password, storage.database) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env["POSTGRES_DB"],
    )
    mlflow_argv = command_of("mlflow")
    port = mlflow_argv[mlflow_argv.index("--port") + 1]
    assert study.mlflow_tracking_uri == f"http://mlflow:{port}"
    assert f"mlflow:{port}" in mlflow_argv[mlflow_argv.index("--allowed-hosts") + 1].split(",")
    assert study.sampler.seed is None  # identical worker replicas must not draw identical parameters


def test_the_deploy_study_is_the_shipped_nightly_study(monkeypatch) -> None:
    monkeypatch.setenv("ADMET_HPO_STORAGE", "postgresql+psycopg://u:p@postgres:5432/db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    deployed, shipped = (
        load_study(REPO / "deploy" / "nightly.yaml"),
        load_study(REPO / "studies" / "nightly.yaml"),
    )
    assert deployed.name == shipped.name and space_hash(deployed.space) == space_hash(shipped.space)
    unused = {"output_dir"}  # trials write under the study's output_dir, compared below
    assert deployed.base_training.model_dump(exclude=unused) == shipped.base_training.model_dump(
        exclude=unused
    )
    assert deployed.output_dir == shipped.output_dir
    for field in ("metric", "direction", "pruner", "n_trials", "timeout", "heartbeat", "nightly"):
        assert getattr(deployed, field) == getattr(shipped, field), field
    assert deployed.sampler.type == shipped.sampler.type and deployed.sampler.args == shipped.sampler.args


def test_every_variable_is_defined_in_env_example() -> None:
    defined = set(env_example())
    used = {match["name"] for match in VARIABLE.finditer(COMPOSE_TEXT)}
    assert used, "docker-compose.yml uses no variables: where do its settings come from?"
    assert used <= defined, f"not in .env.example: {sorted(used - defined)}"


def test_every_published_port_listens_on_loopback_only() -> None:
    published = {name: service.get("ports", []) for name, service in SERVICES.items()}
    assert {name for name, ports in published.items() if ports} == {"postgres", "mlflow", "dashboard"}
    for name, ports in published.items():
        for port in ports:
            binding = (
                str(port) if not isinstance(port, dict) else f"{port.get('host_ip')}:{port.get('published')}"
            )
            assert binding.startswith("127.0.0.1:"), f"{name}: {port}"


def test_no_password_is_written_down() -> None:
    for userinfo_password in re.findall(r"://[^:/\s@]+:([^@\s]+)@", COMPOSE_TEXT):
        assert VARIABLE.fullmatch(userinfo_password), f"literal password in a URL: {userinfo_password}"
    for name in SERVICES:
        for key, value in environment_of(name).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert VARIABLE.fullmatch(value), f"{name}: {key} is written down"
    assert env_example()["POSTGRES_PASSWORD"] == ""  # no secret committed, not even a default one
    with pytest.raises(pytest.fail.Exception, match=r"set POSTGRES_PASSWORD in \.env"):
        interpolate(environment_of("worker")["ADMET_HPO_STORAGE"], env_example())
    assert SERVICES["postgres"]["env_file"] == ".env"
    assert ".env" in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()


def test_services_start_in_order_and_health_is_checked() -> None:
    init_needs = SERVICES["init"]["depends_on"]
    assert init_needs == {
        "postgres": {"condition": "service_healthy"},
        "mlflow": {"condition": "service_healthy"},
    }
    assert all("healthcheck" in SERVICES[name] for name in init_needs)
    for name in ("worker", "scheduler", "dashboard"):
        assert SERVICES[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
    assert all(SERVICES[name].get("init") is True for name in COMMANDED)  # signals forwarded, children reaped
    assert command_of("init")[:2] == ["hpo", "run"]  # creates the study once, before any worker joins
    assert SERVICES["init"]["restart"] == "no"
    assert int(interpolate(str(SERVICES["worker"]["deploy"]["replicas"]), env_example())) >= 2


def _dockerfile_instructions(keyword: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [keyword]]


def test_volumes_hold_the_study_outputs_and_are_declared(monkeypatch) -> None:
    monkeypatch.setenv("ADMET_HPO_STORAGE", "postgresql+psycopg://u:p@postgres:5432/db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    study = load_study(REPO / "deploy" / "nightly.yaml")
    workdir = PurePosixPath(_dockerfile_instructions("WORKDIR")[-1])
    output_in_image = workdir / study.output_dir.relative_to(REPO).as_posix()
    mounts = {
        entry.split(":")[0]: PurePosixPath(entry.split(":")[1]) for entry in SERVICES["worker"]["volumes"]
    }
    assert output_in_image.is_relative_to(mounts["runs"])
    cache = re.search(r"ADMET_HPO_CACHE=(\S+)", DOCKERFILE)
    assert cache is not None and PurePosixPath(cache[1]) == mounts["cache"]
    used = {entry.split(":")[0] for service in SERVICES.values() for entry in service.get("volumes", [])}
    named = {name for name in used if not name.startswith((".", "/"))}
    assert named <= set(COMPOSE["volumes"])
    mlflow_argv = command_of("mlflow")
    mlflow_dir = PurePosixPath(SERVICES["mlflow"]["volumes"][0].split(":")[1])
    assert PurePosixPath(
        mlflow_argv[mlflow_argv.index("--backend-store-uri") + 1].split("sqlite:///")[1]
    ).is_relative_to(mlflow_dir)
    assert PurePosixPath(mlflow_argv[mlflow_argv.index("--artifacts-destination") + 1]).is_relative_to(
        mlflow_dir
    )


def test_the_image_is_python_311_slim_with_the_pinned_cpu_torch_and_the_files_commands_use() -> None:
    assert _dockerfile_instructions("FROM") == ["python:3.11-slim"]
    constraints = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    torch_pin = next(line for line in constraints if line.startswith("torch=="))
    runs = " ".join(_dockerfile_instructions("RUN"))
    assert f"--index-url https://download.pytorch.org/whl/cpu {torch_pin}" in runs
    assert "pip install -c constraints.txt ." in runs
    ignore_lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = {line.strip() for line in ignore_lines if line.strip() and not line.startswith("#")}
    copied = [source for line in _dockerfile_instructions("COPY") for source in line.split()[:-1]]
    for source in copied:
        assert (REPO / source).exists(), source
        assert source not in ignored, f"{source} is copied but excluded by .dockerignore"
    assert {"deploy", "search_spaces", "studies", "src"} <= set(copied)
    assert _dockerfile_instructions("USER") == ["hpo"]


PROXY_TEXT = (REPO / "docker-compose.proxy.yml").read_text(encoding="utf-8")
PROXY_SERVICES: dict[str, dict[str, Any]] = yaml.safe_load(PROXY_TEXT)["services"]


def test_the_proxy_override_routes_the_workers_through_the_storage_proxy() -> None:
    assert set(PROXY_SERVICES) == {"storage-proxy", "worker"}
    proxy = PROXY_SERVICES["storage-proxy"]
    proxy_argv, worker_argv = proxy["command"], PROXY_SERVICES["worker"]["command"]
    assert_real_invocation(proxy_argv, "storage-proxy")
    assert_real_invocation(worker_argv, "worker (through the proxy)")
    port = proxy_argv[proxy_argv.index("--port") + 1]
    assert worker_argv[worker_argv.index("--storage") + 1] == f"grpc://storage-proxy:{port}"
    assert worker_argv[:4] == command_of("worker")[:4]  # otherwise the same worker
    # The proxy serves the database every other service uses (and the workers keep it for the lock).
    assert {key: str(value) for key, value in proxy["environment"].items()} == environment_of("worker")
    assert proxy["image"] == SERVICES["worker"]["image"] and "ports" not in proxy  # not published
    assert {match["name"] for match in VARIABLE.finditer(PROXY_TEXT)} <= set(env_example())
