"""Issue 29: the Kubernetes manifests (deploy/k8s/) run under ``podman kube play`` offline, through the
kube-play file deploy/containers/kube.py makes of them (podman 4.3 runs no StatefulSet, Service or Secret):
PostgreSQL, the 3-node JetStream cluster and every Deployment from the offline-built images, each pod's
readiness probe passing, and a command driven through it to reporting. One replica per Deployment, to fit
a loaded 2-core machine; the StatefulSets keep theirs. The five services play, as in the compose test (the
department feeds' Deployments are the same image and probes with another command)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import nats
import pytest

from deploy.containers.images import Images, ensure_images
from deploy.containers.kube import Adjustments, KubeImages, KubePlay, kube_play_file, manifests
from deploy.containers.topology import APP_SERVICES
from deploy.local.demo import Client, application
from deploy.ops.checks import until_reconciled
from shared.settings import Settings
from tests.conftest import made_stream
from tests.containers.conftest import needs_podman

pytestmark = [pytest.mark.e2e, needs_podman]

READY_WITHIN = 300.0  # seconds from `kube play` until every pod's readiness probe passes


def secret_values() -> dict[str, str]:
    """A fresh password for every key of the manifests' Secret (its ``change-me`` values replaced)."""
    (secret,) = [d for d in manifests() if d["kind"] == "Secret"]
    return {key: uuid.uuid4().hex for key in secret["stringData"]}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubePlay, Images, dict[str, str]]]:
    images = ensure_images()
    secrets = secret_values()
    settings = {
        "SALESOPS_IDENTITY_PUBLIC_KEY": os.environ["SALESOPS_IDENTITY_PUBLIC_KEY"],  # the tests' issuer
        "SALESOPS_IDENTITY_JWKS_URL": "",  # the manifests' example provider is not reachable here
        "SALESOPS_IDENTITY_JWKS_ISSUER": "",
    }
    play = kube_play_file(
        tmp_path_factory.mktemp("kube") / "play.yml",
        KubeImages(images.salesops, images.nats, images.postgres),
        Adjustments(
            prefix=f"k{uuid.uuid4().hex[:6]}-",
            secrets=secrets,
            settings=settings,
            max_replicas=1,
            deployments=frozenset(APP_SERVICES),
        ),
    )
    try:
        play.play()
        play.wait_ready(READY_WITHIN)
        yield play, images, secrets
    finally:
        play.down()


async def test_the_manifests_run_under_kube_play_and_a_command_reaches_reporting(
    played: tuple[KubePlay, Images, dict[str, str]],
) -> None:
    play, images, secrets = played
    pods = play.pods()
    names = {pod.split("-", 1)[1] for pod in pods}  # without the run's prefix
    assert names == {"postgres-0", "nats-0", "nats-1", "nats-2", *(f"{name}-0" for name in APP_SERVICES)}
    for pod, document in pods.items():
        (container,) = document["spec"]["containers"]
        expected = (
            images.postgres if "postgres" in pod else images.nats if "-nats-" in pod else images.salesops
        )
        inspected = play.podman("inspect", "--format", "{{.ImageName}}", play.container(pod)).strip()
        assert inspected == expected == container["image"], pod

    nats_pods = [pod for pod in pods if "-nats-" in pod]
    servers = [f"nats://{play.address(pod)}:4222" for pod in nats_pods]
    admin = await nats.connect(servers=servers, user="admin", password=secrets["NATS_ADMIN_PASSWORD"])
    try:
        info = await made_stream(admin.jetstream(), "SALESOPS_CUSTOMERS")
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2, info.cluster
    finally:
        await admin.close()

    nc = await nats.connect(servers=servers, user="client", password=secrets["NATS_CLIENT_PASSWORD"])
    try:
        client = Client(nc, "salesops", timeout=15.0)
        body = application("dealer", f"容器编排贸易公司{datetime.now(UTC):%H%M%S}", "EAST")
        answer = await client.send("customers", "cmd", "register_prospect", body)
        assert answer["ok"], answer
        found = await client.query(
            "customers",
            "get_customer",
            {"actor": {"id": "fin-zhao", "role": "finance"}, "customer_id": answer["result"]["customer_id"]},
        )
        assert found["ok"], found
    finally:
        await nc.drain()
    # The event went through the relay and JetStream to reporting: it holds exactly what the stores hold.
    postgres = next(pod for pod in pods if "postgres" in pod)
    settings = Settings(
        postgres_host=play.address(postgres),
        postgres_user="salesops",
        postgres_password=secrets["SALESOPS_POSTGRES_PASSWORD"],
        postgres_db="salesops",
    )
    reports = await until_reconciled(settings, timeout=120)
    assert all(report.equal for report in reports), [report.to_json() for report in reports]
