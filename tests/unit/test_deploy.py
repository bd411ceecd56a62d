"""Deployment files, checked without a container engine or a cluster.

docker-compose.yml against the Compose specification's schema (check-jsonschema, vendored schema), the
Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, vendored schemas, strict), the
Dockerfile with hadolint, the NATS configurations with ``nats-server -t``; and all of them run exactly
the commands the end-to-end tests start.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.local.processes import DEPARTMENTS, PROCESSES, service_command
from deploy.nats.auth import INTEGRATORS, permissions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.33"
NATS_PASSWORDS = {
    f"NATS_{user.upper()}_PASSWORD": "x" for user in [*PROCESSES, "client", *INTEGRATORS, "admin"]
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def compose_schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("path", [COMPOSE, ROOT / "docker-compose.offline.yml"], ids=lambda path: path.name)
def test_compose_file_matches_the_compose_specification_schema(path: Path) -> None:
    result = compose_schema_check(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_an_invalid_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["orders"]["comand"] = broken["services"]["orders"].pop("command")  # a misspelt key
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    assert compose_schema_check(path).returncode != 0


def test_kubernetes_manifests_match_the_kubernetes_schemas() -> None:
    documents = k8s_documents()
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret"} <= kinds
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_schema_check_rejects_an_invalid_manifest() -> None:
    deployment = copy.deepcopy(next(d for d in k8s_documents() if d["kind"] == "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_compose_and_manifests_run_the_commands_the_end_to_end_tests_start() -> None:
    # The e2e tests start service_command(service) = [<venv python>, "-m", "services.<name>.main"];
    # the image's python is the same program at another path.
    expected = {service: ["python", *service_command(service)[1:]] for service in PROCESSES}
    services = compose()["services"]
    assert {s: services[s]["command"] for s in PROCESSES} == expected
    deployments = {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == "Deployment"}
    commands = {n: d["spec"]["template"]["spec"]["containers"][0]["command"] for n, d in deployments.items()}
    assert commands == expected


def test_compose_runs_a_three_node_jetstream_cluster_with_replicated_streams_and_service_users() -> None:
    services = compose()["services"]
    nodes = [name for name in services if name.startswith("nats-")]
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    for name in PROCESSES:
        service = services[name]
        env = service["environment"]
        assert env["SALESOPS_STREAM_REPLICAS"] == "3"
        assert env["SALESOPS_NATS_URL"].count("nats://") == 3
        assert env["SALESOPS_NATS_USER"] == name
        assert service["restart"] == "unless-stopped"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert services["postgres"]["healthcheck"] and all(services[n]["healthcheck"] for n in nodes)


def test_every_deployment_has_liveness_readiness_and_metrics() -> None:
    for doc in k8s_documents():
        if doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"


def nats_config_check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "nats-server"), "-t", "-c", str(path)],
        env={**os.environ, **NATS_PASSWORDS, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("node", [1, 2, 3])
def test_compose_nats_node_configuration_is_valid_and_syncs_always(node: int) -> None:
    path = ROOT / "deploy" / "nats" / f"cluster-node{node}.conf"
    result = nats_config_check(path, {})
    assert result.returncode == 0, result.stderr
    assert "sync_interval: always" in path.read_text()


def test_kubernetes_nats_and_postgres_configuration_equal_the_deploy_files(tmp_path: Path) -> None:
    data = {d["metadata"]["name"]: d["data"] for d in k8s_documents() if d["kind"] == "ConfigMap"}
    nats, postgres = data["nats-config"], data["postgres-config"]
    assert nats["cluster-users.conf"] == (ROOT / "deploy/nats/cluster-users.conf").read_text()
    assert postgres["postgresql.conf"] == (ROOT / "deploy/postgres/postgresql.conf").read_text()
    assert postgres["init.sql"] == (ROOT / "deploy/postgres/init.sql").read_text()
    for name, text in nats.items():
        (tmp_path / name).write_text(text)
    result = nats_config_check(tmp_path / "nats.conf", {"POD_NAME": "nats-0"})
    assert result.returncode == 0, result.stderr
    assert "sync_interval: always" in nats["nats.conf"]


@pytest.mark.parametrize(
    "dockerfile",
    [DOCKERFILE, *sorted((ROOT / "deploy" / "containers").glob("*.Dockerfile"))],
    ids=lambda path: path.name,
)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_a_service_command_and_checks_the_readiness_endpoint() -> None:
    text = DOCKERFILE.read_text()
    default = json.loads(next(line for line in text.splitlines() if line.startswith("CMD "))[4:])
    assert default == ["python", *service_command("customers")[1:]]
    assert "SALESOPS_METRICS_PORT=9100" in text and "127.0.0.1:9100/readyz" in text


def test_the_cluster_integration_user_has_the_generated_read_only_permissions() -> None:
    """The compose / Kubernetes cluster's integrator is the one ``./salesops up`` runs and
    tests/integration/test_nats_auth.py proves: its permissions line is deploy/nats/auth.py's."""
    lines = (ROOT / "deploy/nats/cluster-users.conf").read_text().splitlines()
    for user in (*INTEGRATORS, *DEPARTMENTS):  # and the O10 department feeds' users
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"user: {user},"))
        written = lines[at + 1].strip().removeprefix("permissions: ")
        assert json.loads(written) == permissions("salesops", user)
    assert all(password in compose()["x-nats-passwords"] for password in NATS_PASSWORDS)
