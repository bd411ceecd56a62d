"""Process wiring shared by the write services: broker, routes, outbox relay, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from faststream.nats import NatsBroker

from shared.bus import ServiceBus, connect_nats, make_broker
from shared.contract_docs import asyncapi_document
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.store import ServiceApplication, ensure_database

log = logging.getLogger(__name__)


def configure_logging(settings: Settings, service: str) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )


@dataclass
class WriteService:
    """One write service, running: its application, routes and outbox relay."""

    app: ServiceApplication
    settings: Settings
    bus: ServiceBus
    relay: OutboxRelay | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def broker(self) -> NatsBroker:
        return self.bus.broker


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
    bus = ServiceBus(make_broker(settings, f"{app.service}-commands"), settings, app.service)
    register(bus, app)
    await bus.broker.start()
    service = WriteService(app=app, settings=settings, bus=bus)
    nc = await connect_nats(settings, f"{app.service}-relay")
    await bus.answer_unknown(nc)
    if relay:
        service.relay = OutboxRelay(app, settings, nc)
        service.background.append(asyncio.create_task(service.relay.run(stop), name=f"{app.service}-relay"))
    if extra is not None:
        service.background.append(asyncio.create_task(extra(service, stop), name=f"{app.service}-extra"))
    service.background.append(asyncio.create_task(_close_on_stop(stop, bus.broker, nc)))
    return service


async def _close_on_stop(stop: asyncio.Event, broker: NatsBroker, nc: Any) -> None:
    await stop.wait()
    await broker.stop()
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
        print_contract(ServiceBus(make_broker(Settings(), service), Settings(), service), register, docs_app)
        return
    settings = Settings()
    configure_logging(settings, service)
    ensure_database(settings, [service])

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        app = make_app(settings)
        running = await start_write_service(app, settings, register, stop, extra=extra)
        log.info("%s serving on %s", service, settings.nats_url)
        await stop.wait()
        for task in running.background:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        app.close()

    asyncio.run(main())
