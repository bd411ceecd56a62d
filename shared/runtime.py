"""Process wiring shared by the write services: broker, routes, outbox relay, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import nats.errors

from shared.bus import ServiceBus, connect_nats
from shared.contract_docs import asyncapi_document
from shared.observability import (
    ServiceMetrics,
    consumer_probe,
    nats_connected,
    outbox_backlog_probe,
    postgres_reachable,
    serve_observability,
)
from shared.observability import configure_logging as configure_json_logging
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.startup import exclusive_startup
from shared.store import ServiceApplication, ensure_database

log = logging.getLogger(__name__)


def configure_logging(settings: Settings, service: str) -> None:
    """JSON lines with the service and, where known, the correlation id (``SALESOPS_LOG_FORMAT=text``)."""
    configure_json_logging(settings.log_level, service)


@dataclass
class WriteService:
    """One write service, running: its application, routes and outbox relay."""

    app: ServiceApplication
    settings: Settings
    bus: ServiceBus
    relay: OutboxRelay | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    metrics: ServiceMetrics | None = None
    metrics_port: int | None = None


async def start_write_service(
    app: ServiceApplication,
    settings: Settings,
    register: Callable[[ServiceBus, Any], None],
    stop: asyncio.Event,
    *,
    relay: bool = True,
    extra: Callable[[WriteService, asyncio.Event], Coroutine[Any, Any, None]] | None = None,
) -> WriteService:
    """Start serving commands and (unless ``relay=False``) publishing the service's events."""
    metrics = ServiceMetrics(app.service)
    bus = ServiceBus(settings, app.service, observe=metrics.observe)
    register(bus, app)
    routes = await connect_nats(settings, f"{app.service}-commands")
    nc = await connect_nats(settings, f"{app.service}-relay")
    await bus.serve(routes, unknown=nc)
    service = WriteService(app=app, settings=settings, bus=bus, metrics=metrics)
    if settings.persistence_module == "eventsourcing.postgres":  # commands fail fast during an outage
        service.background.append(asyncio.create_task(bus.gate.run(stop), name=f"{app.service}-store-gate"))
    if relay:
        service.relay = OutboxRelay(app, settings, nc)
        service.background.append(asyncio.create_task(service.relay.run(stop), name=f"{app.service}-relay"))
        relayed = service.relay
        metrics.probes.append(
            outbox_backlog_probe(settings.postgres_dsn, relayed.schema, relayed.table, app.service)
        )
    metrics.checks["nats"] = nats_connected(nc)
    metrics.checks["routes"] = nats_connected(routes)
    if settings.persistence_module == "eventsourcing.postgres":
        metrics.checks["postgres"] = postgres_reachable(settings.postgres_dsn)
    metrics.probes.append(consumer_probe(nc, settings.namespace, app.service))
    service.metrics_port = await serve_observability(metrics, stop)
    if extra is not None:
        service.background.append(asyncio.create_task(extra(service, stop), name=f"{app.service}-extra"))
    service.background.append(asyncio.create_task(_close_on_stop(stop, bus, routes, nc)))
    return service


async def _close_on_stop(stop: asyncio.Event, bus: ServiceBus, *connections: Any) -> None:
    await stop.wait()
    await bus.close()  # the commands being decided are answered before the connections go
    # Stopping while NATS is away (a node restarting) must still shut down cleanly.
    for nc in connections:
        with contextlib.suppress(nats.errors.Error):
            await nc.drain()


def print_contract(bus: ServiceBus, register: Callable[[ServiceBus, Any], None], app: Any) -> None:
    register(bus, app)
    print(json.dumps(asyncapi_document(bus), indent=2, ensure_ascii=False, sort_keys=True))


def run_write_service(
    service: str,
    make_app: Callable[[Settings], ServiceApplication],
    register: Callable[[ServiceBus, Any], None],
    extra: Callable[[WriteService, asyncio.Event], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Entry point of a write service process: run until SIGINT/SIGTERM.

    ``asyncapi`` as the only argument prints the service's contract document instead.
    """
    if sys.argv[1:] == ["asyncapi"]:
        docs_app = make_app(Settings(persistence_module="eventsourcing.popo"))
        print_contract(ServiceBus(Settings(), service), register, docs_app)
        return
    settings = Settings()
    configure_logging(settings, service)
    with exclusive_startup(settings, "database"):  # processes starting together create things in turn
        ensure_database(settings, [service])

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Commands run in worker threads (the application is synchronous): as many as may wait on the store.
        loop.set_default_executor(ThreadPoolExecutor(settings.command_threads, thread_name_prefix="command"))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with exclusive_startup(settings, service):  # building the app creates its tables
            app = make_app(settings)
        running = await start_write_service(app, settings, register, stop, extra=extra)
        # What startup built lives as long as the process: kept out of the collector's full passes, which
        # otherwise took ~50 ms each in the orders process under load (~15 ms after this).
        gc.freeze()
        log.info("%s serving on %s", service, settings.nats_url)
        await stop.wait()
        for task in running.background:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        app.close()

    asyncio.run(main())
