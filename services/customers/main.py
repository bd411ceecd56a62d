"""Customers service process: ``python -m services.customers.main``."""

from __future__ import annotations

import asyncio

from services.customers.api import register
from services.customers.application import CustomersApplication
from shared.bus import connect_nats
from shared.clock import SystemClock
from shared.runtime import WriteService, run_write_service
from shared.settings import Settings


def make_app(settings: Settings) -> CustomersApplication:
    return CustomersApplication(settings, SystemClock())


async def background(service: WriteService, stop: asyncio.Event) -> None:
    """The customer directory (list queries), fed from the service's own events, until ``stop``."""
    app = service.app
    assert isinstance(app, CustomersApplication)
    nc = await connect_nats(service.settings, "customers-directory")
    try:
        await app.directory.run(nc, stop)
    finally:
        await nc.close()  # drain waits forever on a pull subscription; every ack is sent already
        await app.directory.close()


if __name__ == "__main__":
    run_write_service(CustomersApplication.service, make_app, register, extra=background)
