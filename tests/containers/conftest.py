"""The offline compose topology, built and started once for the module that asks for it (a few minutes the
first time on a machine, under one when the images are cached), and removed with its volumes afterwards."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client as NATS

from deploy.containers.images import Images, ensure_images
from deploy.containers.topology import NATS_NODES, PODMAN_COMPOSE, SERVICES, Topology
from deploy.images import BASE_IMAGE, image_exists, podman_unavailable
from deploy.local.demo import Client
from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.conftest import CREDENTIALS

PASSWORD_USERS = ("customers", "orders", "complaints", "field", "reporting", "client", "integration", "admin")
HEALTHY_WITHIN = 180.0  # seconds from `up` until every compose health check passes


def why_not() -> str | None:
    if (reason := podman_unavailable()) is not None:
        return reason
    if not PODMAN_COMPOSE.exists():
        return "podman-compose is not installed (./salesops setup installs the dev dependencies)"
    if shutil.which("debootstrap") is None and not image_exists(BASE_IMAGE):
        return "no debootstrap to build the Debian base (`apt-get install debootstrap`)"
    return None


unavailable = why_not()
needs_podman = pytest.mark.skipif(unavailable is not None, reason=f"no containers here: {unavailable}")


@dataclass
class Running:
    topology: Topology
    images: Images
    passwords: dict[str, str]
    up_seconds: float  # from `podman-compose up` until every health check passed

    @property
    def reporting_token(self) -> str:
        """A company-wide reader's token from the tests' issuer (the containers verify with its key)."""
        return CREDENTIALS.token("gm-zhou", Grant("general_manager"))

    def nats_urls(self) -> list[str]:
        return [f"nats://{self.topology.address(node)}:4222" for node in NATS_NODES]

    def settings(self) -> Settings:
        """For reading the containers' PostgreSQL directly (reconciliation)."""
        return Settings(
            postgres_host=self.topology.address("postgres"),
            postgres_user="salesops",
            postgres_password=self.passwords["postgres"],
            postgres_db="salesops",
        )

    async def connect(self, user: str) -> NATS:
        return await nats.connect(
            servers=self.nats_urls(), user=user, password=self.passwords[user], max_reconnect_attempts=-1
        )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    if unavailable is not None:
        pytest.skip(f"no containers here: {unavailable}")
    images = ensure_images()
    passwords = {user: uuid.uuid4().hex for user in [*PASSWORD_USERS, "postgres"]}
    # The host's own NATS and other runs hold compose's published ports: this run publishes none and is
    # reached at its containers' addresses instead.
    unpublished = tmp_path_factory.mktemp("compose") / "unpublished.yml"
    unpublished.write_text(
        "services:\n"
        + "".join(f"  {service}: {{ports: !reset []}}\n" for service in ("nats-1", "reporting", "prometheus"))
    )
    environment = {
        **images.compose_environment(),
        **{f"NATS_{user.upper()}_PASSWORD": passwords[user] for user in PASSWORD_USERS},
        "SALESOPS_POSTGRES_PASSWORD": passwords["postgres"],
        "SALESOPS_IDENTITY_PUBLIC_KEY": os.environ["SALESOPS_IDENTITY_PUBLIC_KEY"],  # the tests' issuer
    }
    topology = Topology(f"salesops-{uuid.uuid4().hex[:8]}", environment, [unpublished])
    started = time.monotonic()
    try:
        topology.up()
        topology.wait_healthy(SERVICES, HEALTHY_WITHIN)
        yield Running(topology, images, passwords, time.monotonic() - started)
    finally:
        topology.down()


@pytest.fixture(scope="module")
async def client(running: Running) -> AsyncIterator[Client]:
    nc = await running.connect("client")
    yield Client(nc, "salesops", timeout=15.0)
    await nc.drain()
