"""O10: what each department has to act on, from an order's events alone (services/departments/feeds.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.departments.feeds import Department, OrderFacts, apply, open_amount, order_of, to_do
from shared.contracts import Envelope
from tests.builders import order_event

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def event(event_type: str, aggregate_id: str = "o1", **data: Any) -> Envelope:
    return order_event(aggregate_id, event_type, data, AT)


def placed(status: str = "accepted", quantity: int = 10) -> OrderFacts:
    facts = apply(
        None,
        event(
            "OrderPlaced",
            order_number="SO-1",
            customer_id="c1",
            region="EAST",
            channel="phone",
            lines=[{"product_code": "PV-1", "quantity": quantity, "unit_price": "10.00"}],
            total_amount="100.00",
            status=status,
        ),
    )
    assert facts is not None
    return facts


def after(facts: OrderFacts, *events: Envelope) -> OrderFacts:
    for each in events:
        changed = apply(facts, each)
        assert changed is not None
        facts = changed
    return facts


def shipped(quantity: int, amount: str) -> Envelope:
    lines = [{"product_code": "PV-1", "quantity": quantity}]
    return event("OrderShipped", customer_id="c1", lines=lines, amount=amount, status="shipped")


def test_o10_production_ships_an_accepted_order_until_all_of_it_is_out() -> None:
    order = placed()
    assert to_do(Department.PRODUCTION, order) == "ship"
    assert to_do(Department.PRODUCTION, after(order, shipped(4, "40.00"))) == "ship"  # partly shipped
    assert to_do(Department.PRODUCTION, after(order, shipped(4, "40.00"), shipped(6, "60.00"))) is None


def test_o10_production_makes_what_was_requested_and_waits_for_a_held_order() -> None:
    request = event(
        "ProductionRequested", "PV-1", order_id="o1", customer_id="c1", product_code="PV-1", quantity=10
    )
    assert order_of(request) == "o1"  # a product's event, about the order it names
    assert to_do(Department.PRODUCTION, after(placed(), request)) == "make"
    held = placed(status="on_hold")
    assert to_do(Department.PRODUCTION, held) is None
    released = event("OrderReleased", customer_id="c1", rule="O5", by="fin-1", status="accepted")
    assert to_do(Department.PRODUCTION, after(held, released)) == "ship"
    cancelled = event("OrderCancelled", customer_id="c1", reason="withdrawn")
    assert to_do(Department.PRODUCTION, after(placed(), cancelled)) is None


def test_o10_finance_collects_what_was_shipped_and_unpaid() -> None:
    order = placed()
    assert to_do(Department.FINANCE, order) is None  # nothing shipped: nothing to collect
    out = after(order, shipped(10, "100.00"))
    assert (to_do(Department.FINANCE, out), open_amount(Department.FINANCE, out)) == (
        "collect",
        Decimal("100"),
    )
    paid = event("PaymentReceived", customer_id="c1", amount="30.00", status="shipped")
    overdue = event(
        "ReceivableOverdue",
        "c1",
        customer_id="c1",
        order_id="o1",
        receivable_id="o1#0",
        amount="70.00",
        due_on="2026-12-20",
    )
    late = after(out, paid, overdue)
    assert (to_do(Department.FINANCE, late), open_amount(Department.FINANCE, late)) == (
        "collect_overdue",
        Decimal("70"),
    )
    settled = event("PaymentReceived", customer_id="c1", amount="70.00", status="paid")
    assert to_do(Department.FINANCE, after(late, settled)) is None


def test_o10_marketing_follows_up_an_order_until_it_is_paid_or_cancelled() -> None:
    order = placed()
    assert to_do(Department.MARKETING, order) == "follow_up"
    assert open_amount(Department.MARKETING, order) == Decimal("100.00")
    paid = after(
        order,
        shipped(10, "100.00"),
        event("PaymentReceived", customer_id="c1", amount="100.00", status="paid"),
    )
    assert to_do(Department.MARKETING, paid) is None


def test_o10_an_event_of_an_order_the_feed_never_saw_placed_is_left_alone() -> None:
    assert apply(None, shipped(1, "10.00")) is None
