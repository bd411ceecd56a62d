"""O11 rev 2 on real PostgreSQL and NATS: the customer's own terms, reminders, opening receivables."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.orders.domain import CustomerAccount
from shared.clock import FixedClock
from shared.settings import Settings
from tests.builders import FINANCE, PRODUCTION, SYSTEM
from tests.integration.orders_kit import Orders
from tests.integration.test_orders import stream_events, wait_event

pytestmark = pytest.mark.integration


async def shipped(orders: Orders, customer_id: str, quantity: int = 2) -> dict[str, Any]:
    product = await orders.product(quantity=10)
    order = await orders.order(customer_id, product, quantity=quantity)
    lines = [{"product_code": product, "quantity": quantity}]
    return await orders.ok("ship_order", {"actor": PRODUCTION, "order_id": order["id"], "lines": lines})


async def test_o11_a_receivable_falls_due_on_the_customers_own_terms(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer(payment_terms="45 days")
    order = await shipped(orders, dealer)
    assert order["due_on"] == "2027-01-04"  # 2026-11-20 + 45 days
    raised = await wait_event(nc, settings, "ReceivableRaised", account_id(dealer))
    assert raised["data"]["due_on"] == "2027-01-04"


def account_id(customer_id: str) -> str:
    """The id of the customer's account in orders: the aggregate its receivable events belong to."""
    return str(CustomerAccount.create_id(customer_id))


async def reminded(orders: Orders) -> list[str]:
    return (await orders.ok("remind_receivables", {"actor": SYSTEM}))["reminded"]


async def test_o11_reminders_before_due_and_when_overdue_reach_the_bus_once(
    orders: Orders, clock: FixedClock, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    order = await shipped(orders, dealer)
    receivable = f"{order['id']}#0"  # its first shipment (other tests' receivables may be reminded too)
    clock.advance(timedelta(days=27))  # 3 days before the 30 days' terms end
    assert receivable in await reminded(orders)
    assert receivable not in await reminded(orders)
    clock.advance(timedelta(days=4))
    assert receivable in await reminded(orders)
    assert receivable not in await reminded(orders)
    account = account_id(dealer)
    soon = await wait_event(nc, settings, "ReceivableDueSoon", account)
    overdue = await wait_event(nc, settings, "ReceivableOverdue", account)
    for event in (soon, overdue):
        assert (event["data"]["order_id"], event["data"]["amount"]) == (order["id"], "200.00")
        assert event["data"]["due_on"] == "2026-12-20"
    for kind in ("ReceivableDueSoon", "ReceivableOverdue"):  # raised once each
        assert [e["aggregate_id"] for e in await stream_events(nc, settings, kind)].count(account) == 1


async def test_o11_finance_records_an_opening_receivable_and_o5_holds_from_the_first_day(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer = await orders.customer()
    due = date(2026, 11, 10)  # before the system's first day: overdue
    recorded = await orders.ok(
        "record_opening_receivable",
        {
            "actor": FINANCE,
            "customer_id": dealer,
            "invoice_number": "FP-0001",
            "amount": "1200.00",
            "invoice_date": (due - timedelta(days=30)).isoformat(),
            "due_date": due.isoformat(),
        },
    )
    product = await orders.product(quantity=10)
    held = await orders.order(dealer, product)
    assert [h["rule"] for h in held["holds"]] == ["O5"]
    event = await wait_event(nc, settings, "OpeningReceivableRecorded", account_id(dealer))
    assert (event["data"]["amount"], event["data"]["due_on"]) == ("1200.00", "2026-11-10")
    paid = await orders.ok(
        "record_opening_payment",
        {"actor": FINANCE, "customer_id": dealer, "receivable_id": recorded["id"], "amount": "1200.00"},
    )
    assert paid["released"] == [held["id"]]
