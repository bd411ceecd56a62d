"""A department's process (O10): ``python -m services.departments.main <marketing|finance|production>``.

Each department runs as its own process under its own NATS user (``deploy/nats/auth.py``): a durable
consumer of the orders stream, named after the department, keeps its feed (schema ``departments``), and
``<ns>.<department>.query.get_feed`` answers it. ``... <department> asyncapi`` prints its contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import nats.errors

from services.departments.api import register
from services.departments.application import FeedStore
from services.departments.feeds import Department
from shared.bus import ServiceBus
from shared.consumer import DurableConsumer
from shared.database import DatabaseNotUtf8, ensure_database
from shared.observability import nats_connected, postgres_reachable, serve_observability
from shared.runtime import configure_logging, print_contract, serve_routes
from shared.settings import Settings

SOURCE = "orders"  # O10: the copies are of an order's events
log = logging.getLogger(__name__)


@dataclass
class DepartmentService:
    feed: FeedStore
    bus: ServiceBus
    consumer: DurableConsumer
    background: list[asyncio.Task[Any]] = field(default_factory=list)


async def start_department(
    department: Department, settings: Settings, stop: asyncio.Event
) -> DepartmentService:
    """Consume the orders stream into the department's feed and answer its query until ``stop``."""
    await asyncio.to_thread(ensure_database, settings)
    # Two connections: the consumer's transaction and a query; PostgreSQL's connections are few and shared.
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    assert pool is not None
    feed = FeedStore(pool, department)
    await feed.ensure_schema()
    metrics, bus, routes, nc = await serve_routes(
        settings, department.value, register, feed, "queries", "consumer"
    )
    consumer = DurableConsumer(nc, settings, department.value, SOURCE, feed.take_in)
    service = DepartmentService(feed, bus, consumer)
    metrics.checks["nats"] = nats_connected(nc)
    metrics.checks["postgres"] = postgres_reachable(settings.postgres_dsn)
    await serve_observability(metrics, stop)

    async def close_on_stop() -> None:
        await stop.wait()
        await consuming
        await bus.close()
        with contextlib.suppress(nats.errors.Error):
            await routes.drain()
        await nc.close()  # not drain(): it waits forever on a pull subscription (shared/consumer.py)
        await pool.close()

    consuming = asyncio.create_task(consumer.run(stop), name=consumer.durable)
    service.background = [consuming, asyncio.create_task(close_on_stop(), name=f"{department}-close")]
    return service


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in set(Department):
        sys.exit(f"usage: python -m services.departments.main {{{','.join(Department)}}} [asyncapi]")
    department = Department(sys.argv[1])
    if sys.argv[2:] == ["asyncapi"]:
        docs = Settings()
        # Registering the route touches no database: the feed is only described here.
        print_contract(ServiceBus(docs, department.value), register, FeedStore(cast(Any, None), department))
        return
    settings = Settings()
    configure_logging(settings, department.value)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        service = await start_department(department, settings, stop)
        log.info("%s feed consuming %s and serving on %s", department, SOURCE, settings.nats_url)
        await stop.wait()
        for task in service.background:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 15)

    try:
        asyncio.run(run())
    except DatabaseNotUtf8 as refused:
        sys.exit(f"{department}: {refused}")


if __name__ == "__main__":
    main()
