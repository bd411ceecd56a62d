"""Returns and exchanges (O15), shipment corrections and delivery (O16) through the bus, on real PostgreSQL
and NATS, with the customers service in-process."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.settings import Settings
from tests.builders import FINANCE, PRODUCTION, SALES, SALES_MANAGER
from tests.integration.orders_kit import START, Orders
from tests.integration.test_orders import wait_event

pytestmark = pytest.mark.integration


async def shipped(orders: Orders, quantity: int, stock: int = 50) -> tuple[str, str, dict[str, Any]]:
    """A dealer, a product and an order of ``quantity`` units shipped in full (100.00 each)."""
    dealer = await orders.customer("dealer")
    product = await orders.product(quantity=stock)
    order = await orders.order(dealer, product, quantity=quantity)
    lines = [{"product_code": product, "quantity": quantity}]
    order = await orders.ok("ship_order", {"actor": PRODUCTION, "order_id": order["id"], "lines": lines})
    return dealer, product, order


def return_body(order_id: str, product: str, quantity: int, reason: str = "damaged") -> dict[str, Any]:
    lines = [{"product_code": product, "quantity": quantity}]
    return {"actor": SALES, "order_id": order_id, "lines": lines, "reason": reason}


async def test_o15_two_returns_racing_for_the_last_returnable_units_exactly_one_wins(
    orders: Orders, services: Any
) -> None:
    _, product, order = await shipped(orders, 5)
    await orders.ok("request_return", return_body(order["id"], product, 3))
    body = return_body(order["id"], product, 2)
    replies = await asyncio.gather(orders.cmd("request_return", body), orders.cmd("request_return", body))
    assert sorted(r["ok"] for r in replies) == [False, True], replies
    assert next(r for r in replies if not r["ok"])["error"]["rule"] == "O15"
    stored = await orders.query("get_order", {"order_id": order["id"]})
    assert sorted(sum(line["quantity"] for line in r["lines"]) for r in stored["returns"].values()) == [2, 3]


async def test_o15_a_return_larger_than_what_was_shipped_is_refused_and_stores_nothing(
    orders: Orders, services: Any
) -> None:
    _, product, order = await shipped(orders, 4)
    before = services.app.recorder.max_notification_id()
    error = await orders.refused("request_return", return_body(order["id"], product, 5), "O15")
    assert error["details"]["returnable"] == 4
    assert services.app.recorder.max_notification_id() == before


async def test_o15_a_return_after_payment_becomes_customer_credit_and_its_events_carry_the_figures(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer, product, order = await shipped(orders, 6)  # 600.00
    await orders.ok("record_payment", {"actor": FINANCE, "order_id": order["id"], "amount": "600.00"})
    asked = await orders.ok(
        "request_return", return_body(order["id"], product, 2, "quality") | {"complaint_id": "cmp-7"}
    )
    step = {"order_id": order["id"], "return_id": asked["return_id"]}
    await orders.refused("approve_return", step | {"actor": SALES}, "O15")
    await orders.ok("approve_return", step | {"actor": SALES_MANAGER})
    await orders.refused("book_return", step | {"actor": SALES_MANAGER}, "O15")
    booked = await orders.ok("book_return", step | {"actor": PRODUCTION})
    assert (booked["receivable"], booked["returned_amount"], booked["status"]) == ("0.00", "200.00", "paid")
    account = await orders.query("get_account", {"customer_id": dealer})
    assert (account["credit"], account["exposure"]) == ("200.00", "0.00")
    assert (await orders.query("get_product", {"product_code": product}))["on_hand"] == 46

    note = (await wait_event(nc, settings, "CreditNoteIssued", order["id"]))["data"]
    assert note["customer_id"] == dealer
    assert (note["source"], note["source_id"], note["issued_on"]) == (
        "return",
        asked["return_id"],
        "2026-11-20",
    )
    assert (note["amount"], note["to_receivable"], note["to_credit"]) == ("200.00", "0.00", "200.00")
    assert note["lines"] == [
        {"product_code": product, "quantity": 2, "unit_price": "100.00", "amount": "200.00"}
    ]
    booked_event = (await wait_event(nc, settings, "ReturnBooked", order["id"]))["data"]
    assert (booked_event["reason"], booked_event["exchange"], booked_event["returned_on"]) == (
        "quality",
        False,
        "2026-11-20",
    )


async def test_o15_an_exchange_ships_a_replacement_and_issues_no_credit_note(orders: Orders) -> None:
    _, product, order = await shipped(orders, 3, stock=10)
    asked = await orders.ok(
        "request_return", return_body(order["id"], product, 1, "wrong_item") | {"exchange": True}
    )
    step = {"order_id": order["id"], "return_id": asked["return_id"]}
    await orders.ok("approve_return", step | {"actor": SALES_MANAGER})
    await orders.ok("book_return", step | {"actor": PRODUCTION})
    replaced = await orders.ok("ship_replacement", step | {"actor": PRODUCTION})
    assert (replaced["receivable"], replaced["returned_amount"]) == ("300.00", "0.00")
    assert (await orders.query("get_product", {"product_code": product}))["on_hand"] == 7


async def test_o16_a_short_shipment_reported_after_seven_days_is_refused(
    orders: Orders, clock: FixedClock
) -> None:
    _, product, order = await shipped(orders, 4)
    (shipment_id,) = order["shipments"]
    body = {
        "actor": SALES,
        "order_id": order["id"],
        "shipment_id": shipment_id,
        "problem": "short",
        "lines": [{"product_code": product, "quantity": 1}],
    }
    clock.set(START + timedelta(days=8))
    error = await orders.refused("report_shipment_problem", body, "O16")
    assert error["details"]["within_days"] == 7


async def test_o16_short_shipment_credited_then_accepted_delivery_completes_the_order(
    orders: Orders, nc: NATS, settings: Settings
) -> None:
    dealer, product, order = await shipped(orders, 4)
    (shipment_id,) = order["shipments"]
    reported = await orders.ok(
        "report_shipment_problem",
        {
            "actor": SALES,
            "order_id": order["id"],
            "shipment_id": shipment_id,
            "problem": "short",
            "lines": [{"product_code": product, "quantity": 1}],
        },
    )
    fix = {"order_id": order["id"], "correction_id": reported["correction_id"]}
    await orders.refused("credit_shipment", fix | {"actor": PRODUCTION}, "O16")
    credited = await orders.ok("credit_shipment", fix | {"actor": SALES_MANAGER})
    assert (credited["receivable"], credited["completed_on"]) == ("300.00", "2026-11-20")
    assert (await orders.query("get_account", {"customer_id": dealer}))["exposure"] == "300.00"
    completed = await wait_event(nc, settings, "OrderCompleted", order["id"])
    assert completed["data"] == {"customer_id": dealer, "completed_on": "2026-11-20"}

    accept = {
        "actor": SALES,
        "order_id": order["id"],
        "shipment_id": shipment_id,
        "accepted_on": "2026-11-20",
        "accepted_by": "王伟",
    }
    accepted = await orders.ok("accept_delivery", accept)
    assert accepted["shipments"][shipment_id]["accepted_by"] == "王伟"
    await orders.refused("accept_delivery", accept, "O16")
