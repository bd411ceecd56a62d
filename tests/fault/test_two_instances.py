"""Two of everything: every service runs as two processes at once, under a load from a third process.

Commands are shared by both instances of a service (queue groups); one outbox relay per service publishes
at a time (PostgreSQL advisory lock); reporting's two instances share its durable consumers. The
instance whose relay holds the lock is killed (kill -9) mid-load, for customers and for orders: the
other instance's relay takes over, and in the end every stored event is on the stream once, in
per-aggregate order, and in reporting's log once; every command took effect once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, wait_ready
from deploy.nats.servers import NatsServers
from shared.database import drop_database, ensure_database
from shared.settings import Settings
from shared.streams import delete_streams
from tests.conftest import auth, fetch_value, unique_settings, wait_for
from tests.fault import failover_support as failover

pytestmark = pytest.mark.fault

PROSPECTS = 150  # customers: 2 events each
RECEIPTS = 300  # orders: 1 event each, on 4 products


@pytest.fixture
async def two_of_everything(
    tmp_path: Path,
) -> AsyncIterator[tuple[NatsServers, Settings, failover.Instances, NATS]]:
    with NatsServers(tmp_path / "nats") as servers:
        settings = unique_settings(nats_url=servers.urls)
        ensure_database(settings, list(SERVICES))
        env = {
            "SALESOPS_NATS_URL": servers.urls,
            "SALESOPS_NAMESPACE": settings.namespace,
            "SALESOPS_POSTGRES_DB": settings.postgres_db,
            "SALESOPS_REPORTING_HTTP": "false",  # the bus queries are enough here
            "SALESOPS_CONSUMER_ACK_WAIT_SECONDS": "5",  # what a killed consumer held comes back soon
        }
        instances = failover.Instances(env, tmp_path / "logs", count=2)
        nc = await nats.connect(servers.urls)
        try:
            instances.start(SERVICES)
            yield servers, settings, instances, nc
        finally:
            instances.stop()
            await delete_streams(nc.jetstream(), settings, list(SERVICES))
            await nc.drain()
            drop_database(settings)


def connections(servers: NatsServers) -> dict[str, list[dict[str, Any]]]:
    """Open client connections by name, from the server's monitoring endpoint."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    listed: Any = servers.nodes[0].monitor("/connz?limit=1024")["connections"]
    for connection in listed or []:
        by_name.setdefault(connection.get("name", ""), []).append(connection)
    return by_name


async def test_two_instances_share_commands_and_the_relay_fails_over_without_loss(
    two_of_everything: tuple[NatsServers, Settings, failover.Instances, NATS], tmp_path: Path
) -> None:
    servers, settings, instances, nc = two_of_everything
    env = {
        "SALESOPS_NATS_URL": servers.urls,
        "SALESOPS_NAMESPACE": settings.namespace,
        "SALESOPS_POSTGRES_DB": settings.postgres_db,
    }
    expected = {"customers-commands", "orders-commands", "complaints-commands", "reporting-queries"}
    expected |= {"reporting-consumers", "orders-customer-view"}

    async def all_connected() -> bool:
        names = connections(servers)
        return all(len(names.get(name, [])) == 2 for name in expected)

    await wait_for(all_connected, timeout=90)
    for service in SERVICES:
        await wait_ready(nc, settings.namespace, service)
    holders: dict[str, int] = {}

    async def relays_active() -> bool:
        for service in failover.LOADED:
            holder = await failover.relay_holder(settings.postgres_dsn, service)
            if holder is None:
                return False
            holders[service] = holder
        return True

    await wait_for(relays_active, timeout=30)

    out = tmp_path / "load.json"
    with failover.load_process(
        env, out, prospects=PROSPECTS, receipts=RECEIPTS, products=4, concurrency=8
    ) as load:
        # Mid-load: a third of the customers events stored.
        async def under_way() -> bool:
            return await failover.stored_count(settings.postgres_dsn, "customers") >= 2 * PROSPECTS // 3

        await failover.poll_under_load(under_way, load, out, 120, lambda: instances.tails("customers"))
        # Both instances of a service answer commands (queue group): each got a fair part of them.
        names = connections(servers)
        split = {s: sorted(int(c["out_msgs"]) for c in names[f"{s}-commands"]) for s in failover.LOADED}
        for service, (fewer, more) in split.items():
            assert fewer >= 0.2 * (fewer + more), f"{service} commands not shared: {split}"

        # kill -9 the instance whose relay publishes, for both loaded services; the other takes over.
        takeover: dict[str, float] = {}
        survivors: dict[str, int] = {}
        for service in failover.LOADED:
            holders[service] = await failover.relay_holder(settings.postgres_dsn, service) or holders[service]
            killed = instances.index_of(service, holders[service])
            instances.kill(killed, service)
            survivors[service] = instances.pid(1 - killed, service)
        killed_at = time.monotonic()
        for service, survivor in survivors.items():

            async def taken_over(service: str = service, survivor: int = survivor) -> bool:
                return await failover.relay_holder(settings.postgres_dsn, service) == survivor

            await wait_for(taken_over, timeout=30, every=0.05)
            takeover[service] = time.monotonic() - killed_at

        result = await failover.finish_load(load, out)

    try:
        await wait_for(lambda: failover.reporting_caught_up(settings), timeout=60)
    except AssertionError:
        raise AssertionError(instances.tails("reporting")) from None
    audits = [await failover.audit(nc, settings, service) for service in failover.LOADED]

    # Every command took effect once: the stores hold exactly the events of the acknowledged commands.
    failover.assert_each_event_once(audits, result["events"])
    # The effects, not only the events: stock per product and each customer's credit once in reporting.
    for product, quantity in result["received"].items():
        reply = await nc.request(
            f"{settings.namespace}.orders.query.get_product",
            f'{{"product_code": "{product}"}}'.encode(),
            timeout=10,
            headers=auth(),
        )
        assert f'"on_hand":{quantity},' in reply.data.decode().replace(" ", ""), (product, reply.data)
    credited = await fetch_value(
        settings,
        "SELECT count(*) FROM reporting.customers WHERE customer_id = ANY($1::text[]) "
        "AND credit_limit = 100000 AND status = 'prospect'",
        result["customers"],
    )
    assert credited == PROSPECTS

    rows = "\n".join(a.row for a in audits)
    failover.write_doc_section(
        "two-instances",
        f"""## Two of everything (`tests/fault/test_two_instances.py`)

Two processes of each service (customers, orders, complaints, reporting) on one NATS server; a load
from a third process ({result["commands"]} commands, every one with an idempotency key, sent again
with the same key when unanswered: {result["retries"]} re-sends). Mid-load the instance whose outbox
relay held the advisory lock was killed (kill -9), for customers and for orders.

- commands answered per instance before the kill (queue groups): customers {split["customers"]},
  orders {split["orders"]}
- relay takeover after the kill: customers {takeover["customers"]:.1f} s, orders {takeover["orders"]:.1f} s
  (the standby polls the lock every second)
- events of acknowledged commands: {result["events"]}

| service | stored | on the stream | consumed by reporting | duplicates on the stream | lost |
|---|---|---|---|---|---|
{rows}

Per aggregate, the stream holds versions 1, 2, 3 … in order; reporting's log holds each event once;
stock per product and each customer's credit check appear once in the read models.""",
    )
