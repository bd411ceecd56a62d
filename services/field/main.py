"""Field service process: ``python -m services.field.main``.

Besides the routes and the outbox relay it runs, through the ``extra`` hook: its customer view (a
durable consumer of customer events: grades for S2) and the S4 deadline scan, which decides from
stored state what is due, so it picks up after a restart and never raises a deadline twice.
"""

from __future__ import annotations

import asyncio

from services.field.api import register
from services.field.application import FieldApplication
from services.field.customer_view import PostgresCustomerDirectory, run_customer_view
from shared.bus import connect_nats
from shared.clock import SystemClock
from shared.runtime import WriteService, run_write_service
from shared.scheduler import every
from shared.settings import Settings


def make_app(settings: Settings) -> FieldApplication:
    return FieldApplication(settings, SystemClock(), PostgresCustomerDirectory(settings))


async def background(service: WriteService, stop: asyncio.Event) -> None:
    """The customer view and the S4 deadline scan, until ``stop``."""
    app = service.app
    assert isinstance(app, FieldApplication)
    nc = await connect_nats(service.settings, "field-customer-view")

    async def scan() -> int:
        return await asyncio.to_thread(app.scan_overdue)

    try:
        await asyncio.gather(
            run_customer_view(nc, service.settings, stop),
            every(service.settings.intelligence_deadline_check_seconds, scan, stop),
        )
    finally:
        await nc.close()  # drain waits forever on a pull subscription; every ack is sent already


if __name__ == "__main__":
    run_write_service(FieldApplication.service, make_app, register, extra=background)
