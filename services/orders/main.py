"""Orders service process: ``python -m services.orders.main``.

Besides the routes and the outbox relay it runs, through the ``extra`` hook: the customer view (a
durable consumer of customer events; a signed contract releases orders waiting for it, O4), the hold
expiry job (O9), the receivable reminders (O11), and the branch planning job: monthly reorder points
(O12) and the match of each weekly request list once its week is over (O13). The jobs decide from
stored state what is due (the hold book, the due book, the month on each branch's account, the lists
not matched yet), so they pick up after a restart where they left off and never act twice.
"""

from __future__ import annotations

import asyncio

from services.orders.api import register
from services.orders.application import OrdersApplication
from services.orders.customer_view import PostgresCustomerDirectory, run_customer_view
from shared.bus import connect_nats
from shared.clock import SystemClock
from shared.runtime import WriteService, run_write_service
from shared.scheduler import every
from shared.settings import Settings

PLANNING_CHECK_SECONDS = 3600.0  # O12 is monthly, O13 weekly: an hourly look for what is due is plenty
REMINDER_CHECK_SECONDS = 3600.0  # O11 reminders fall due by the day


def make_app(settings: Settings) -> OrdersApplication:
    return OrdersApplication(settings, SystemClock(), PostgresCustomerDirectory(settings))


async def background(service: WriteService, stop: asyncio.Event) -> None:
    """The customer view and the jobs, until ``stop``."""
    app = service.app
    assert isinstance(app, OrdersApplication) and isinstance(app.customers, PostgresCustomerDirectory)
    nc = await connect_nats(service.settings, "orders-customer-view")

    async def release_for_contract(customer_id: str) -> None:
        await asyncio.to_thread(app.release_for_contract, customer_id)

    async def expire_holds() -> None:
        await asyncio.to_thread(app.expire_due_reservations)

    async def remind_receivables() -> None:
        await asyncio.to_thread(app.remind_due_receivables)

    async def branch_planning() -> None:
        await asyncio.to_thread(app.compute_due_reorder_points)
        await asyncio.to_thread(app.match_due_request_lists)

    try:
        await asyncio.gather(
            run_customer_view(nc, service.settings, stop, release_for_contract, app.customers.forget),
            every(service.settings.hold_expiry_check_seconds, expire_holds, stop),
            every(REMINDER_CHECK_SECONDS, remind_receivables, stop),
            every(PLANNING_CHECK_SECONDS, branch_planning, stop),
        )
    finally:
        await nc.close()  # drain waits forever on a pull subscription; every ack is sent already


if __name__ == "__main__":
    run_write_service(OrdersApplication.service, make_app, register, extra=background)
