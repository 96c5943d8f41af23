"""deploy/k8s/ checked without a cluster: every resource (the base and the gpu and proxy overlays, their
patches applied) validates against the Kubernetes 1.37 API schemas (``kubernetes-validate``, strict), every
container command parses as a real invocation of the installed CLIs after Kubernetes' ``$(VAR)``
expansion, secrets come from the Secret only, and the workers are an indexed Job."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from admet_hpo.config.study import load_study

from .cli_parsing import assert_real_invocation

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
IMAGE = "admet-hpo:0.1.0"
SECRET = "admet-hpo"
EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _json_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """Apply RFC 6902 ``add`` operations (the only kind the overlays use) to ``resource`` in place."""
    for operation in operations:
        assert operation["op"] == "add", operation
        *parents, last = [
            part.replace("~1", "/").replace("~0", "~") for part in operation["path"][1:].split("/")
        ]
        target: Any = resource
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target.insert(len(target) if last == "-" else int(last), operation["value"])
        else:
            target[last] = operation["value"]


def build(folder: Path) -> list[dict[str, Any]]:
    """What ``kubectl apply -k folder`` applies: its resources (recursively), then its patches."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    resources: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (folder / entry).resolve()
        resources += build(path) if path.is_dir() else _documents(path)
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        matching = [
            r for r in resources if (r["kind"], r["metadata"]["name"]) == (target["kind"], target["name"])
        ]
        assert len(matching) == 1, f"{folder}: patch target {target} matches {len(matching)} resources"
        _json_patch(matching[0], yaml.safe_load((folder / patch["path"]).read_text(encoding="utf-8")))
    return resources


BUILDS = {name: build(K8S / name) for name in ("", "gpu", "proxy")}
ALL = [(name or "base", resource) for name, resources in BUILDS.items() for resource in resources]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec.get("template", {}).get("spec")


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    return [] if spec is None else spec["containers"]


def named(build_name: str, kind: str, name: str) -> dict[str, Any]:
    return next(r for r in BUILDS[build_name] if (r["kind"], r["metadata"]["name"]) == (kind, name))


def expanded_command(container: dict[str, Any]) -> list[str]:
    """The container's command after Kubernetes' ``$(VAR)`` expansion, with literal env values and a
    Job's completion index 0 (a reference to an undefined variable fails the test, as it stays literal)."""
    values = {}
    for entry in container.get("env", []):
        if "value" in entry:
            values[entry["name"]] = entry["value"]
        elif "completion-index" in entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", ""):
            values[entry["name"]] = "0"

    def expand(match: re.Match[str]) -> str:
        assert match[1] in values, f"{container['name']}: $({match[1]}) is not defined in its env"
        return values[match[1]]

    return [EXPANSION.sub(expand, str(part)) for part in container["command"]]


def test_the_kustomization_lists_every_manifest_of_the_folder() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    on_disk = sorted(path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")
    assert sorted(listed) == on_disk


@pytest.mark.parametrize(("build_name", "resource"), ALL, ids=lambda v: v if isinstance(v, str) else None)
def test_every_resource_validates_against_the_kubernetes_schemas(build_name: str, resource: dict) -> None:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(
            f"{build_name}: {resource['kind']} {resource['metadata']['name']}: {exc.message} at {exc.path}"
        )


def test_the_validator_rejects_what_kubernetes_would() -> None:
    job = yaml.safe_load(yaml.safe_dump(named("", "Job", "admet-hpo-workers")))
    job["spec"]["parallelism"] = "four"  # an integer field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    job = yaml.safe_load(yaml.safe_dump(named("", "Job", "admet-hpo-workers")))
    job["spec"]["template"]["spec"]["containers"][0]["comand"] = ["hpo"]  # a typo: strict mode
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


CONTAINERS = [
    (f"{build_name}/{resource['kind']}/{resource['metadata']['name']}", container)
    for build_name, resource in ALL
    for container in containers(resource)
    if container["image"] == IMAGE
]


@pytest.mark.parametrize(("where", "container"), CONTAINERS, ids=[where for where, _ in CONTAINERS])
def test_every_container_command_is_a_real_invocation(where: str, container: dict) -> None:
    argv = expanded_command(container)
    assert_real_invocation(argv, where)
    if argv[0] == "hpo":
        assert argv[2] == "deploy/nightly.yaml"
        assert {"configMapRef": {"name": "admet-hpo"}} in container["envFrom"]
        assert {"secretRef": {"name": SECRET}} in container["envFrom"]  # ADMET_HPO_STORAGE, with its password
    assert "requests" in container["resources"] and "memory" in container["resources"]["limits"]


def test_the_hpo_containers_load_the_deploy_study_with_the_configured_urls(monkeypatch) -> None:
    config = named("", "ConfigMap", "admet-hpo")["data"]
    monkeypatch.setenv("ADMET_HPO_STORAGE", "postgresql+psycopg://admet_hpo:pw@postgres:5432/admet_hpo")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", config["MLFLOW_TRACKING_URI"])
    study = load_study(REPO / "deploy" / "nightly.yaml")
    mlflow_port = named("", "Service", "mlflow")["spec"]["ports"][0]["port"]
    assert study.mlflow_tracking_uri == f"http://mlflow:{mlflow_port}"
    mlflow = containers(named("", "Deployment", "mlflow"))[0]["command"]
    assert f"mlflow:{mlflow_port}" in mlflow[mlflow.index("--allowed-hosts") + 1].split(",")
    postgres = containers(named("", "StatefulSet", "postgres"))[0]
    assert postgres["env"][0]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "POSTGRES_PASSWORD"}
    assert named("", "Service", "postgres")["spec"]["ports"][0]["port"] == 5432


def test_no_secret_is_written_down() -> None:
    kinds = {resource["kind"] for _, resource in ALL}
    assert "Secret" not in kinds  # created with kubectl create secret, never committed
    for path in K8S.rglob("*.yaml"):
        for password in re.findall(r"://[^:/\s@]+:([^@\s]+)@", path.read_text(encoding="utf-8")):
            assert password.startswith("$"), f"{path}: a password is written down"
    for where, container in CONTAINERS:
        for entry in container.get("env", []):
            if re.search(r"PASSWORD|SECRET|TOKEN|STORAGE", entry["name"]):
                assert "value" not in entry or entry["value"].startswith("grpc://"), (
                    f"{where}: {entry['name']}"
                )


def test_the_workers_are_an_indexed_job_whose_index_is_the_worker_index() -> None:
    job = named("", "Job", "admet-hpo-workers")
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] <= job["spec"]["completions"]
    worker = containers(job)[0]
    argv = expanded_command(worker)
    assert argv[:2] == ["hpo", "worker"] and argv[argv.index("--worker-index") + 1] == "0"
    assert pod_spec(job)["restartPolicy"] == "Never"
    threads = next(e["value"] for e in worker["env"] if e["name"] == "OMP_NUM_THREADS")
    assert threads == str(worker["resources"]["requests"]["cpu"])  # torch threads = the CPUs asked for


def test_the_study_is_created_once_before_workers_and_nights_run_one_at_a_time() -> None:
    assert expanded_command(containers(named("", "Job", "admet-hpo-init"))[0])[:2] == ["hpo", "run"]
    cron = named("", "CronJob", "admet-hpo-nightly")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert expanded_command(containers(cron)[0])[:2] == ["hpo", "nightly"]
    dashboard = named("", "Service", "admet-hpo-dashboard")
    assert dashboard["spec"]["type"] == "ClusterIP"  # no login: never exposed outside the cluster


def test_the_gpu_overlay_asks_for_one_gpu_per_worker_and_changes_nothing_else() -> None:
    worker = containers(named("gpu", "Job", "admet-hpo-workers"))[0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    base = [r for r in BUILDS[""] if r["kind"] != "Job" or r["metadata"]["name"] != "admet-hpo-workers"]
    assert [
        r for r in BUILDS["gpu"] if r["kind"] != "Job" or r["metadata"]["name"] != "admet-hpo-workers"
    ] == base


def test_the_proxy_overlay_routes_the_workers_through_the_storage_proxy() -> None:
    proxy = containers(named("proxy", "Deployment", "admet-hpo-storage-proxy"))[0]
    argv = expanded_command(proxy)
    assert argv[:2] == ["hpo", "storage-proxy"]
    service = named("proxy", "Service", "admet-hpo-storage-proxy")
    port = service["spec"]["ports"][0]["port"]
    assert argv[argv.index("--port") + 1] == str(port) and argv[argv.index("--host") + 1] == "0.0.0.0"
    worker = expanded_command(containers(named("proxy", "Job", "admet-hpo-workers"))[0])
    assert worker[worker.index("--storage") + 1] == f"grpc://admet-hpo-storage-proxy:{port}"
