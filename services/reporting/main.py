"""Reporting service process: ``python -m services.reporting.main``.

Runs the four consumers (customers, orders, complaints, field) and the query routes until SIGINT/SIGTERM.
Reporting is the read side, not event-sourced: its own schema ``reporting`` via asyncpg.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import nats.errors
import uvicorn

from services.reporting import signoff
from services.reporting.api import Reports, register
from services.reporting.config import ReportingSettings
from services.reporting.consumers import DURABLE_PREFIX, make_consumers, start_consumers
from services.reporting.consumption import consumption_of
from services.reporting.http import create_app
from services.reporting.projections import SOURCES, ensure_schema, init_connection
from services.reporting.rebuild import Readers, rebuild
from shared.bus import ServiceBus, connect_nats
from shared.clock import Clock
from shared.consumer import DurableConsumer
from shared.database import DatabaseNotUtf8, ensure_database
from shared.identity.verify import Verifier
from shared.observability import (
    ServiceMetrics,
    consumer_probe,
    nats_connected,
    postgres_reachable,
    serve_observability,
)
from shared.runtime import configure_logging, print_contract
from shared.settings import Settings
from shared.subjects import stream_name

SERVICE = "reporting"
log = logging.getLogger(__name__)


async def open_pool(settings: Settings, max_size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.postgres_dsn, min_size=1, max_size=max_size, init=init_connection
    )
    assert pool is not None
    async with pool.acquire() as conn:
        stale = await ensure_schema(conn)
        if stale:
            # Tables made by an older version of this code: rebuild them from the log before use (R9).
            log.warning("projections %s have an older layout; rebuilding them from the event log", stale)
            stats = await rebuild(conn, settings.period_mode, stale, readers=Readers(settings.postgres_dsn))
            log.info("rebuilt %s from %d events (%.0f events/s)", stale, stats.events, stats.rate)
    return pool


def http_socket(host: str, port: int) -> socket.socket | None:
    """Bind here rather than in uvicorn, which exits the whole process when it cannot bind."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError:
        listening.close()
        return None
    listening.listen(128)
    listening.setblocking(False)
    return listening


@dataclass
class ReportingService:
    settings: Settings
    pool: asyncpg.Pool
    bus: ServiceBus
    reports: Reports
    consumers: list[DurableConsumer]
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    http_port: int | None = None
    metrics: ServiceMetrics | None = None
    metrics_port: int | None = None


def projection_probe(pool: asyncpg.Pool) -> Any:
    async def projection_position(metrics: ServiceMetrics) -> None:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT service, position FROM reporting.source_position")
        for row in rows:
            if not row["service"].startswith("_"):  # "_rebuilds" is a counter, not a source
                metrics.projection_position.labels(metrics.service, row["service"]).set(row["position"])

    return projection_position


def unsigned_periods_probe(pool: asyncpg.Pool, reports: Reports) -> Any:
    """R1 rev 2: how many closed periods are past their sign-off day unsigned, as the alerts query says."""

    async def periods_unsigned(metrics: ServiceMetrics) -> None:
        async with pool.acquire() as conn:
            unsigned = await signoff.unsigned_periods(conn, reports.clock.now(), reports.mode)
        metrics.periods_unsigned.labels(metrics.service).set(len(unsigned))

    return periods_unsigned


async def start_reporting(
    settings: Settings,
    stop: asyncio.Event,
    *,
    sources: Sequence[str] = SOURCES,
    queries: bool = True,
    http: bool = False,
    http_port: int | None = None,
    clock: Clock | None = None,
    options: ReportingSettings | None = None,
) -> ReportingService:
    """Start consuming (and, with ``queries``, answering the report queries; with ``http``, serving the
    HTTP API and dashboard on ``http_port``, 0 = any free port) until ``stop`` is set; ``clock`` decides
    what "now" is for the sign-off (R1), the ageing (R12) and the sessions' expiry."""
    await asyncio.to_thread(ensure_database, settings)
    pool = await open_pool(settings)
    metrics = ServiceMetrics(SERVICE)
    bus = ServiceBus(settings, SERVICE, observe=metrics.observe)
    reports = Reports(pool, settings, clock=clock)
    nc = await connect_nats(settings, "reporting-consumers")
    routes = await connect_nats(settings, "reporting-queries") if queries else None
    if routes is not None:
        register(bus, reports)
        await bus.serve(routes, unknown=nc)
    consumers = make_consumers(nc, pool, settings, sources)
    service = ReportingService(settings, pool, bus, reports, consumers, metrics=metrics)
    service.background = start_consumers(consumers, stop)
    metrics.checks["nats"] = nats_connected(nc)
    if routes is not None:
        metrics.checks["routes"] = nats_connected(routes)
    metrics.checks["postgres"] = postgres_reachable(settings.postgres_dsn)
    durables = [(stream_name(settings.namespace, c.source_service), c.durable) for c in consumers]
    consumers_probe = consumer_probe(nc, settings.namespace, DURABLE_PREFIX, durables)
    metrics.probes.append(consumers_probe)
    metrics.probes.append(projection_probe(pool))
    metrics.probes.append(unsigned_periods_probe(pool, reports))
    service.metrics_port = await serve_observability(metrics, stop)
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    if http:
        port = settings.http_port if http_port is None else http_port
        listening = http_socket(settings.http_host, port)
        if listening is None:
            # The port is taken (a second instance on this machine, say): the consumers and the bus
            # queries still serve; only this instance has no HTTP.
            log.error("HTTP API not started: %s:%s is in use; serving the bus only", settings.http_host, port)
        else:
            idle, lasting = (options or ReportingSettings()).session_limits()
            app = create_app(
                reports,
                Verifier.from_settings(settings, clock),
                clock,
                idle,
                lasting,
                consumption_of(metrics, consumers_probe),
            )
            # log_config None: uvicorn's loggers go through the process's JSON handler (tracebacks too);
            # the access log is the app's own, with the correlation id (http_middleware).
            config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve(sockets=[listening]), name="reporting-http")
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            service.http_port = listening.getsockname()[1]

    async def close_on_stop() -> None:
        await stop.wait()
        if server is not None:
            server.should_exit = True
        for task in service.background[: len(consumers)]:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
        if routes is not None:
            await bus.close()
            # Stopping while NATS is away (a node restarting) must still shut down cleanly.
            with contextlib.suppress(nats.errors.Error):
                await routes.drain()
        # Not drain(): draining a pull subscription waits on its pending queue forever (nats-py 2.16);
        # the consumers have stopped and acked what they handled, so nothing is lost by closing.
        await nc.close()
        if serving is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(serving, 10)
        await pool.close()

    service.background.append(asyncio.create_task(close_on_stop(), name="reporting-close"))
    return service


async def stopped(service: ReportingService) -> None:
    for task in service.background:
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 15)


def openapi_document() -> dict[str, Any]:
    """The HTTP API's OpenAPI document, as FastAPI derives it from the routes (committed in docs/openapi/)."""
    # Describing the routes reads no report and verifies no token.
    app = create_app(Reports(cast(Any, None), Settings()), Verifier())
    return app.openapi()


def main() -> None:
    """Run until SIGINT/SIGTERM; ``asyncapi`` or ``openapi`` as the only argument prints that document."""
    if sys.argv[1:] == ["openapi"]:
        print(json.dumps(openapi_document(), indent=2, ensure_ascii=False, sort_keys=True))
        return
    if sys.argv[1:] == ["asyncapi"]:
        docs = Settings()
        # Registering routes touches no database: the reports are only described here.
        print_contract(ServiceBus(docs, SERVICE), register, Reports(cast(Any, None), docs))
        return
    settings = ReportingSettings()
    configure_logging(settings, SERVICE)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        service = await start_reporting(settings, stop, http=settings.reporting_http, options=settings)
        # Everything imported and started so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise add ~30 ms pauses to large report replies.
        gc.freeze()
        log.info("reporting consuming %s and serving on %s", ", ".join(SOURCES), settings.nats_url)
        if service.http_port:
            log.info("dashboard on http://%s:%d/dashboard", settings.http_host, service.http_port)
        await stop.wait()
        await stopped(service)

    try:
        asyncio.run(run())
    except DatabaseNotUtf8 as refused:
        sys.exit(f"{SERVICE}: {refused}")  # one line saying what to do, not a traceback


if __name__ == "__main__":
    main()
