"""Process wiring shared by the write services: broker, routes, outbox relay, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS

from shared.bus import ServiceBus, connect_nats
from shared.contract_docs import asyncapi_document
from shared.database import DatabaseNotUtf8, ensure_database
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
from shared.store import ServiceApplication
from shared.waiting import first_of, pause

log = logging.getLogger(__name__)

RELAY_ARGUMENT = "relay"  # ``python -m services.<service>.main relay``: the service's relay process
RELAY_INSTANCE_ENV = "SALESOPS_RELAY_INSTANCE"  # the pid of the service process the relay belongs to
RELAY_RESTART_SECONDS = 1.0
RELAY_STOP_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # prctl(2)


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
    """Start serving commands and (unless ``relay=False``) publishing the service's events from this
    process (the service process itself runs its relay in a child: ``run_write_service``)."""
    metrics, bus, routes, nc = await serve_routes(settings, app.service, register, app, "commands", "relay")
    service = WriteService(app=app, settings=settings, bus=bus, metrics=metrics)
    if settings.persistence_module == "eventsourcing.postgres":  # commands fail fast during an outage
        service.background.append(asyncio.create_task(bus.gate.run(stop), name=f"{app.service}-store-gate"))
    if relay:
        service.relay = OutboxRelay(app, settings, nc)
        service.background.append(asyncio.create_task(service.relay.run(stop), name=f"{app.service}-relay"))
    if settings.persistence_module == "eventsourcing.postgres":  # whoever relays (this process or its child)
        recorder: Any = app.recorder
        metrics.probes.append(
            outbox_backlog_probe(
                settings.postgres_dsn, recorder.datastore.schema, recorder.events_table_name, app.service
            )
        )
    metrics.checks["nats"] = nats_connected(nc)
    metrics.checks["routes"] = nats_connected(routes)
    if settings.persistence_module == "eventsourcing.postgres":
        metrics.checks["postgres"] = postgres_reachable(settings.postgres_dsn)
    metrics.probes.append(consumer_probe(nc, settings.namespace, app.service))
    metrics.watch_commands(app.commands)
    service.metrics_port = await serve_observability(metrics, stop)
    if extra is not None:
        service.background.append(asyncio.create_task(extra(service, stop), name=f"{app.service}-extra"))
    service.background.append(asyncio.create_task(_close_on_stop(stop, bus, routes, nc)))
    return service


async def serve_routes(
    settings: Settings,
    name: str,
    register: Callable[[ServiceBus, Any], None],
    app: Any,
    routes_as: str,
    other_as: str,
) -> tuple[ServiceMetrics, ServiceBus, NATS, NATS]:
    """A process's routes (``register`` of ``app``) served on a NATS connection of their own, named
    ``<name>-<routes_as>``, and observed by its metrics; the names no route has are answered on its other
    connection (``<name>-<other_as>``: its relay's or its consumer's). Returns the metrics, the bus and
    the two connections."""
    metrics = ServiceMetrics(name)
    bus = ServiceBus(settings, name, observe=metrics.observe)
    register(bus, app)
    routes = await connect_nats(settings, f"{name}-{routes_as}")
    other = await connect_nats(settings, f"{name}-{other_as}")
    await bus.serve(routes, unknown=other)
    return metrics, bus, routes, other


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


async def supervise_relay(service: str, stop: asyncio.Event) -> None:
    """Run the service's outbox relay in a child process until ``stop``; start it again if it dies.

    In the service's own process the relay waits for the interpreter behind the command threads: at
    saturation an event took p50 ~20 ms (p99 ~45 ms) from its commit to the stream, ~4 ms (p99 ~20 ms)
    from a process of its own. The child dies with this process (``PR_SET_PDEATHSIG``), so a killed
    service leaves no relay behind, and its relay's session is named for this process's pid."""
    env = {**os.environ, RELAY_INSTANCE_ENV: str(os.getpid())}
    while not stop.is_set():
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{service}.main", RELAY_ARGUMENT, env=env
        )
        exited = asyncio.ensure_future(child.wait())
        await first_of(stop, exited)
        if exited.done():
            log.error("%s: the outbox relay process exited (%s); starting it again", service, exited.result())
            await pause(stop, RELAY_RESTART_SECONDS)
            continue
        child.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), RELAY_STOP_SECONDS)
        except TimeoutError:
            child.kill()
            await exited


def die_with_parent(parent: int) -> bool:
    """Ask Linux for SIGTERM when the parent goes; False if it is gone already."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid() == parent


async def run_relay(app: ServiceApplication, settings: Settings) -> None:
    """The relay process: publish the service's stored events until SIGTERM (or the service is gone)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    instance = int(os.environ[RELAY_INSTANCE_ENV])
    if not die_with_parent(instance):
        return
    nc = await connect_nats(settings, f"{app.service}-relay")
    try:
        await OutboxRelay(app, settings, nc, instance=instance).run(stop)
    finally:
        with contextlib.suppress(nats.errors.Error):
            await nc.drain()


def run_write_service(
    service: str,
    make_app: Callable[[Settings], ServiceApplication],
    register: Callable[[ServiceBus, Any], None],
    extra: Callable[[WriteService, asyncio.Event], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Entry point of a write service process: run until SIGINT/SIGTERM. Its outbox relay runs in a
    child process (``supervise_relay``).

    ``asyncapi`` as the only argument prints the service's contract document instead; ``relay`` runs
    the relay process (started by the service itself).
    """
    if sys.argv[1:] == ["asyncapi"]:
        docs_app = make_app(Settings(persistence_module="eventsourcing.popo"))
        print_contract(ServiceBus(Settings(), service), register, docs_app)
        return
    settings = Settings()
    configure_logging(settings, service)
    if sys.argv[1:] == [RELAY_ARGUMENT]:
        with exclusive_startup(settings, service):
            relay_app = make_app(settings)
        try:
            asyncio.run(run_relay(relay_app, settings))
        finally:
            relay_app.close()
        return
    try:
        with exclusive_startup(settings, "database"):  # processes starting together create things in turn
            ensure_database(settings, [service])
    except DatabaseNotUtf8 as refused:
        sys.exit(f"{service}: {refused}")  # one line saying what to do, not a traceback

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Queries and jobs run in threads (the application is synchronous): as many as may wait on the store.
        # Commands run in the application's command worker (shared/worker.py).
        loop.set_default_executor(ThreadPoolExecutor(settings.query_threads, thread_name_prefix="query"))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with exclusive_startup(settings, service):  # building the app creates its tables
            app = make_app(settings)
        running = await start_write_service(app, settings, register, stop, relay=False, extra=extra)
        relay = asyncio.create_task(supervise_relay(service, stop), name=f"{service}-relay")
        running.background.append(relay)
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
