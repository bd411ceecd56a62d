"""The kube-play file deploy/containers/kube.py makes of deploy/k8s/ for podman 4.3 (which runs no
StatefulSet, Service or Secret), checked without podman; tests/containers/test_kube_play.py plays it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.containers.kube import Adjustments, KubeImages, kube_play_documents, manifests

IMAGES = KubeImages("localhost/salesops:a", "localhost/salesops-nats:b", "localhost/salesops-postgres:c")
KINDS_KUBE_PLAY_RUNS = {"Pod", "PersistentVolumeClaim"}


def played(tmp_path: Path, **adjust: Any) -> dict[str, dict[str, Any]]:
    documents = kube_play_documents(manifests(), IMAGES, tmp_path, Adjustments(prefix="t-", **adjust))
    assert {d["kind"] for d in documents} <= KINDS_KUBE_PLAY_RUNS
    return {d["metadata"]["name"]: d for d in documents}


def env(pod: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in pod["spec"]["containers"][0]["env"]}


def test_statefulsets_become_a_pod_per_replica_with_its_claim_and_deployments_a_pod_per_replica(
    tmp_path: Path,
) -> None:
    documents = played(tmp_path)
    for node in range(3):
        volumes = documents[f"t-nats-{node}"]["spec"]["volumes"]
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-t-nats-{node}"}} in volumes
        assert documents[f"data-t-nats-{node}"]["kind"] == "PersistentVolumeClaim"
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"] for d in manifests() if d["kind"] == "Deployment"
    }
    pods = {name for name, d in documents.items() if d["kind"] == "Pod"}
    assert {f"t-{name}-{n}" for name, count in replicas.items() for n in range(count)} <= pods
    capped = played(tmp_path, max_replicas=1, deployments=frozenset({"orders", "reporting"}))
    assert {name for name, d in capped.items() if d["kind"] == "Pod" and "nats" not in name} == {
        "t-postgres-0",
        "t-orders-0",
        "t-reporting-0",
    }


def test_service_names_become_pod_names_and_secrets_plain_values(tmp_path: Path) -> None:
    documents = played(
        tmp_path, secrets={"NATS_ORDERS_PASSWORD": "s3"}, settings={"SALESOPS_LOG_LEVEL": "DEBUG"}
    )
    orders = env(documents["t-orders-0"])
    assert orders["SALESOPS_NATS_URL"] == "nats://t-nats-0:4222,nats://t-nats-1:4222,nats://t-nats-2:4222"
    assert orders["SALESOPS_POSTGRES_HOST"] == "t-postgres-0"
    assert (orders["SALESOPS_NATS_PASSWORD"], orders["SALESOPS_LOG_LEVEL"]) == ("s3", "DEBUG")
    assert env(documents["t-nats-1"])["POD_NAME"] == "t-nats-1"
    config = (tmp_path / "t-nats-1" / "config" / "nats.conf").read_text()
    assert "nats://t-nats-0:6222" in config and "nats-0.nats" not in config


def test_every_variable_the_nats_users_file_names_is_in_the_nats_pods_environment(tmp_path: Path) -> None:
    documents = played(tmp_path)
    users = (tmp_path / "t-nats-0" / "config" / "cluster-users.conf").read_text()
    named = {word.removeprefix("$") for word in users.split() if word.startswith("$NATS_")}
    assert named and named <= set(env(documents["t-nats-0"])), users  # a file naming none would prove nothing


def test_images_are_the_offline_ones_ports_unpublished_and_probes_run_in_the_image(tmp_path: Path) -> None:
    documents = played(tmp_path)
    for name, document in documents.items():
        if document["kind"] != "Pod":
            continue
        (container,) = document["spec"]["containers"]
        assert container["image"] in (IMAGES.salesops, IMAGES.nats, IMAGES.postgres), name
        assert "ports" not in container, name
        assert all("httpGet" not in container.get(p, {}) for p in ("livenessProbe", "readinessProbe")), name
    probe = documents["t-orders-0"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    assert probe[0] == "python" and probe[-1] == "http://127.0.0.1:9100/readyz"
