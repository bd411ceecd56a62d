"""Complaints service process: ``python -m services.complaints.main``.

Besides the routes and the outbox relay it runs, through the ``extra`` hook: its customer directory (a
durable consumer of customer events: the scopes) and the P7–P9 deadline scan.
"""

from __future__ import annotations

import asyncio

from services.complaints import scopes
from services.complaints.api import register
from services.complaints.application import ComplaintsApplication
from shared.bus import connect_nats
from shared.clock import SystemClock
from shared.customer_directory import PostgresCustomerDirectory, run_customer_view
from shared.runtime import WriteService, run_write_service
from shared.scheduler import every
from shared.settings import Settings


def make_app(settings: Settings) -> ComplaintsApplication:
    return ComplaintsApplication(settings, SystemClock(), PostgresCustomerDirectory(settings, scopes.SCHEMA))


async def deadlines(service: WriteService, stop: asyncio.Event) -> None:
    """P7–P9: raise passed deadlines by itself; each run decides from stored state, so restarts are safe."""
    app = service.app
    assert isinstance(app, ComplaintsApplication)

    async def scan() -> int:
        return await asyncio.to_thread(app.scan_overdue)

    await every(service.settings.complaint_deadline_check_seconds, scan, stop)


async def background(service: WriteService, stop: asyncio.Event) -> None:
    """The customer directory and the deadline scan, until ``stop``."""
    nc = await connect_nats(service.settings, "complaints-customer-view")
    try:
        await asyncio.gather(
            run_customer_view(nc, service.settings, scopes.SCHEMA, stop), deadlines(service, stop)
        )
    finally:
        await nc.close()  # drain waits forever on a pull subscription; every ack is sent already


if __name__ == "__main__":
    run_write_service(ComplaintsApplication.service, make_app, register, extra=background)
