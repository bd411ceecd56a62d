"""Part (4): the outbox relay draining a backlog, beside raw JetStream publishing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import nats
from nats.aio.client import Client as NATS

from deploy.bench.common import SERVICES, Figure, Results, Sizes, bench_settings, wait_until
from services.orders.application import OrdersApplication
from services.orders.customer_view import InMemoryCustomerDirectory
from services.orders.domain import Product
from shared.aggregate import Meta
from shared.clock import SystemClock
from shared.database import drop_database, ensure_database
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.streams import delete_streams

# ------------------------------------------------------------------------------------------- (4) relay


def write_backlog(settings: Settings, events: int) -> OrdersApplication:
    """``events`` stored events (one ProductListed each) written while no relay runs: the bus was down."""
    ensure_database(settings, ["orders"])
    app = OrdersApplication(settings, SystemClock(), InMemoryCustomerDirectory())  # type: ignore[arg-type]
    meta = Meta(
        actor_id="gm-1",
        actor_role="general_manager",
        correlation_id="bench",
        causation_id="bench",
        at=datetime.now(UTC),
    )
    for start in range(0, events, 1000):
        app.save(
            *(
                Product.list_new(f"B-{i}", "bench", "std", Decimal("100.00"), Decimal("60.00"), True, meta)
                for i in range(start, min(events, start + 1000))
            )
        )
    return app


async def raw_publish_rate(nc: NATS, settings: Settings, count: int) -> float:
    """Baseline: nats-py publish_async of same-sized bodies to a stream, acks awaited per page of 1,000."""
    js = nc.jetstream()
    from nats.js.api import StreamConfig

    name = f"{settings.namespace}_RAW"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{settings.namespace}.raw.>"]))
    body = b"x" * 700
    try:
        started = time.perf_counter()
        for page in range(0, count, 1000):
            acks = [
                await js.publish_async(f"{settings.namespace}.raw.e", body, headers={"Nats-Msg-Id": f"r-{i}"})
                for i in range(page, min(count, page + 1000))
            ]
            await asyncio.gather(*acks)
        return count / (time.perf_counter() - started)
    finally:
        await js.delete_stream(name)


async def part_relay(results: Results, sizes: Sizes, token: str) -> None:
    settings = bench_settings(token, "relay")
    nc = await nats.connect(settings.nats_url)
    app: OrdersApplication | None = None
    try:
        print(f"(4) relay: writing a backlog of {sizes.backlog_events:,} events", flush=True)
        app = await asyncio.to_thread(write_backlog, settings, sizes.backlog_events)
        relay = OutboxRelay(app, settings, nc)
        db = await asyncpg.connect(settings.postgres_dsn)
        top = await db.fetchval(f'SELECT max(notification_id) FROM "{relay.schema}"."{relay.table}"')
        await db.close()
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))

        async def drained() -> bool:
            return relay.position >= top

        await wait_until(drained, 300, "the relay to drain the backlog")
        seconds = time.perf_counter() - started
        stop.set()
        await asyncio.wait_for(task, 15)
        rate = relay.published / seconds
        baseline = await raw_publish_rate(nc, settings, sizes.backlog_events)
        results.add(
            Figure(
                "4 relay",
                f"catch-up of a {sizes.backlog_events:,}-event backlog",
                rate,
                "events/s",
                baseline,
                "nats-py publish_async of 700 B bodies, acks per 1,000",
                "≥ 20,000/s",
                rate >= 20_000,
            )
        )
    finally:
        if app is not None:
            app.close()
        await delete_streams(nc.jetstream(), settings, SERVICES)
        await nc.close()
        await asyncio.to_thread(drop_database, settings)
