"""A 3-node JetStream cluster on loopback, streams with 3 replicas, ``sync_interval: always``.

The four services connect with all three URLs; a load runs from its own process; mid-load the node
leading the customers stream is killed (kill -9). Every stored event must end on its stream exactly
once, in per-aggregate order, and in reporting's log once: 0 lost, 0 double-counted. A second test
shows what the relay does when publish acknowledgements are lost after the stream stored the messages (as
during a leader change): it finds them on the stream and sends none of them again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS

from deploy.local.processes import SERVICES, wait_ready
from deploy.nats.servers import NatsServers
from services.customers.application import CustomersApplication
from shared.clock import FixedClock
from shared.database import drop_database, ensure_database
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.streams import delete_streams
from shared.subjects import stream_name
from tests.conftest import PublishThrough, fetch_value, made_stream, unique_settings, wait_for
from tests.fault.failover_support import (
    JS_API_TIMEOUT,
    LOADED,
    Instances,
    assert_each_event_once,
    audit,
    finish_load,
    load_process,
    poll_under_load,
    reporting_caught_up,
    stored_count,
    write_doc_section,
)
from tests.integration.test_outbox import prospect

pytestmark = pytest.mark.fault

PROSPECTS = 150
RECEIPTS = 300


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[NatsServers, Settings, dict[str, str], NATS]]:
    with NatsServers(tmp_path / "nats", size=3) as servers:
        settings = unique_settings(nats_url=servers.urls, stream_replicas=3)
        ensure_database(settings, list(SERVICES))
        env = {
            "SALESOPS_NATS_URL": servers.urls,
            "SALESOPS_STREAM_REPLICAS": "3",
            "SALESOPS_NAMESPACE": settings.namespace,
            "SALESOPS_POSTGRES_DB": settings.postgres_db,
            "SALESOPS_REPORTING_HTTP": "false",
            "SALESOPS_CONSUMER_ACK_WAIT_SECONDS": "5",  # deliveries lost with the node come back soon
        }
        nc = await nats.connect(servers.urls.split(","), max_reconnect_attempts=-1)
        try:
            yield servers, settings, env, nc
        finally:
            await delete_streams(nc.jetstream(), settings, list(SERVICES))
            await nc.drain()
            drop_database(settings)


async def test_cluster_node_killed_mid_load_loses_nothing_and_counts_nothing_twice(
    cluster: tuple[NatsServers, Settings, dict[str, str], NATS], tmp_path: Path
) -> None:
    servers, settings, env, nc = cluster
    instances = Instances(env, tmp_path / "logs", count=1)
    try:
        instances.start(SERVICES)
        for service in SERVICES:
            await wait_ready(nc, settings.namespace, service, timeout=90)
        # A cluster just formed may take more than the default 5 s to answer its first API requests.
        js = nc.jetstream(timeout=JS_API_TIMEOUT)
        for service in ("customers", "orders", "complaints"):
            info = await made_stream(js, stream_name(settings.namespace, service))
            assert info.config.num_replicas == 3, info.config

        out = tmp_path / "load.json"
        with load_process(
            env, out, prospects=PROSPECTS, receipts=RECEIPTS, products=4, concurrency=8
        ) as load:

            async def under_way() -> bool:
                return await stored_count(settings.postgres_dsn, "customers") >= 2 * PROSPECTS // 3

            await poll_under_load(under_way, load, out, 120, lambda: instances.tails("customers"))
            leader = (await js.stream_info(stream_name(settings.namespace, "customers"))).cluster
            assert leader is not None and leader.leader is not None
            killed = next(i for i, node in enumerate(servers.nodes) if node.name == leader.leader)
            servers.kill(killed)
            killed_at = time.monotonic()

            quick = nc.jetstream(timeout=1.0)

            async def new_leader() -> bool:
                try:
                    info = await quick.stream_info(stream_name(settings.namespace, "customers"))
                except (nats.errors.Error, TimeoutError):
                    return False
                return info.cluster is not None and info.cluster.leader not in (None, leader.leader)

            await wait_for(new_leader, timeout=30, every=0.1)
            election = time.monotonic() - killed_at

            result = await finish_load(load, out)

        try:
            await wait_for(lambda: reporting_caught_up(settings), timeout=90)
        except AssertionError:
            raise AssertionError(instances.tails("reporting") + instances.tails("customers")) from None
        audits = [await audit(nc, settings, service) for service in LOADED]
        relay_retries = sum(
            instances.sets[0].log_tail(s, 100_000).count(f"outbox relay {s}: ") for s in LOADED
        )
    finally:
        instances.stop()

    assert_each_event_once(audits, result["events"])
    credited = await fetch_value(
        settings,
        "SELECT count(*) FROM reporting.customers WHERE customer_id = ANY($1::text[]) "
        "AND credit_limit = 100000",
        result["customers"],
    )
    registered = await fetch_value(
        settings, "SELECT count(*) FROM reporting.event_log WHERE event_type = 'CustomerRegistered'"
    )
    assert credited == PROSPECTS
    assert registered == PROSPECTS

    rows = "\n".join(a.row for a in audits)
    write_doc_section(
        "cluster",
        f"""## 3-node JetStream cluster, one node killed (`tests/fault/test_cluster.py`)

Three `nats-server` processes on loopback (`deploy/nats/servers.py`, JetStream `sync_interval: always`),
event streams with 3 replicas (`SALESOPS_STREAM_REPLICAS=3`), the four services connected with all
three URLs (`SALESOPS_NATS_URL` comma-separated). A load from its own process ({result["commands"]}
commands, each with an idempotency key; {result["retries"]} re-sends after no answer). Mid-load the node
leading the customers stream was killed (kill -9) and stayed down.

- new stream leader elected after {election:.1f} s
- outbox relay retries after a failed publish (the relay takes up again after its last event on the
  stream; the stream refuses anything sent after a lost message, `Nats-Expected-Last-Sequence`, `-Msg-Id`):
  {relay_retries}
- events of acknowledged commands: {result["events"]}

| service | stored | on the stream | consumed by reporting | duplicates on the stream | lost |
|---|---|---|---|---|---|
{rows}

Per aggregate, the stream holds versions 1, 2, 3 … in order; reporting counts each customer's
registration and credit check once.""",
    )


class LosesFirstAcks:
    """Publishes whose first page of acknowledgements is lost after the stream stored the messages: what
    a client sees when the stream leader changes between storing and acknowledging."""

    def __init__(self, nc: NATS, lose: int) -> None:
        self.nc = nc
        self.lose = lose
        self.msg_ids: list[str] = []

    async def publish(self, subject: str, payload: bytes, reply: str, headers: dict[str, str]) -> None:
        self.msg_ids.append(headers["Nats-Msg-Id"])
        if len(self.msg_ids) <= self.lose:
            reply = self.nc.new_inbox()  # stored on the stream, but the acknowledgement goes nowhere
        await self.nc.publish(subject, payload, reply=reply, headers=headers)


@pytest.mark.integration
async def test_cluster_relay_whose_acks_are_lost_finds_its_events_on_the_stream_and_sends_none_again(
    settings: Settings, nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.outbox.PUBLISH_TIMEOUT", 1.0)  # how long a page waits for its acks (x2)
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    try:
        for n in range(5):
            app.register_prospect(prospect(n))
        relay = OutboxRelay(app, settings, nc)
        flaky = LosesFirstAcks(nc, lose=5)
        relay.nc = cast(Any, PublishThrough(nc, flaky.publish))
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            top = app.recorder.max_notification_id() or 0

            async def published() -> bool:
                return relay.position >= top

            await wait_for(published, timeout=20)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    finally:
        app.close()
    assert len(flaky.msg_ids) == 5 == len(set(flaky.msg_ids)), flaky.msg_ids  # each sent once
    info = await nc.jetstream(timeout=JS_API_TIMEOUT).stream_info(
        stream_name(settings.namespace, "customers")
    )
    assert info.state.messages == 5
