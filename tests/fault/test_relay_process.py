"""A write service runs its outbox relay in a child process (``shared.runtime.supervise_relay``): the child
goes when the service is killed (kill -9, no clean shutdown), and is started again when it dies alone."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from deploy.local.processes import ServiceProcesses, wait_ready
from deploy.ops.checks import alive, relay_children
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from shared.streams import delete_streams
from shared.subjects import stream_name
from tests.conftest import auth, fetch_value, unique_settings, wait_for

pytestmark = pytest.mark.fault

SERVICE = "orders"


async def relay_sessions(settings: Settings, instance: int) -> int:
    count: int = await fetch_value(
        settings,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        f"{SERVICE}-relay-{instance}",
    )
    return count


@dataclass
class Running:
    """The service's process (with its relay child), its settings, and a connection to NATS."""

    processes: ServiceProcesses
    settings: Settings
    nc: NATS

    @property
    def pid(self) -> int:
        return self.processes.running[SERVICE].pid

    async def relay(self, other_than: int | None = None) -> int:
        """The pid of the service's one relay process (not ``other_than``), once its session is open."""

        async def one_connected() -> bool:
            children = relay_children(self.pid)
            return (
                len(children) == 1
                and children != [other_than]
                and await relay_sessions(self.settings, self.pid) == 1
            )

        await wait_for(one_connected, timeout=30)
        [child] = relay_children(self.pid)
        return child


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Running]:
    settings = unique_settings()
    ensure_database(settings, [SERVICE])
    env = {"SALESOPS_NAMESPACE": settings.namespace, "SALESOPS_POSTGRES_DB": settings.postgres_db}
    processes = ServiceProcesses(env, tmp_path / "logs")
    nc = await nats.connect(settings.nats_url)
    try:
        processes.start(SERVICE)
        await wait_ready(nc, settings.namespace, SERVICE)
        yield Running(processes, settings, nc)
    finally:
        processes.stop_all()
        # Its customer view made the customers stream it consumes.
        await delete_streams(nc.jetstream(), settings, [SERVICE, "customers"])
        await nc.drain()
        drop_database(settings)


async def test_a_killed_service_takes_its_relay_process_with_it(service: Running) -> None:
    parent, child = service.pid, await service.relay()
    service.processes.kill(SERVICE)  # kill -9: the service gets no chance to stop its child

    async def relay_gone() -> bool:
        return not alive(child) and await relay_sessions(service.settings, parent) == 0

    await wait_for(relay_gone, timeout=15)


async def test_a_relay_process_that_dies_is_started_again_and_publishes(service: Running) -> None:
    settings, nc = service.settings, service.nc
    first = await service.relay()
    os.kill(first, signal.SIGKILL)
    await service.relay(other_than=first)  # started again
    js = nc.jetstream()
    stream = stream_name(settings.namespace, SERVICE)
    body = {
        "actor": {"id": "gm-1", "role": "general_manager"},
        "product_code": "RELAYED-1",
        "name": "Relayed",
        "spec": "std",
        "list_price": "100.00",
        "standard_cost": "60.00",
    }
    subject = f"{settings.namespace}.{SERVICE}.cmd.list_product"
    reply = orjson.loads((await nc.request(subject, orjson.dumps(body), timeout=10, headers=auth(body))).data)
    assert reply["ok"], reply

    async def published() -> bool:  # the service stored nothing before the command: this is its event
        try:
            return bool((await js.stream_info(stream)).state.messages >= 1)
        except NotFoundError:  # the new relay has not made the stream yet
            return False

    await wait_for(published, timeout=15)
