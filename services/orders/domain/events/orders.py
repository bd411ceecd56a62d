"""Events of an order (O1–O11): intake, holds, shipments, payments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import AggregateCreated

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class OrderPlaced(AggregateCreated):
    """O1: an order taken, priced, with the holds that keep it back (O4–O8)."""

    TOPIC = "orders.Order.OrderPlaced"
    order_number: str
    customer_id: str
    customer_kind: str
    region: str
    salesperson_id: str
    channel: str
    lines: list[dict[str, Any]]
    total_amount: Decimal
    status: str
    holds: list[dict[str, str]]
    reservation_id: str | None
    deposit_applied: Decimal
    meta: Meta


class OverLimitApproved(CustomerEvent):
    """O7: a branch's order over its capital limit approved."""

    TOPIC = "orders.Order.OverLimitApproved"
    amount: Decimal
    capital_limit: Decimal | None
    meta: Meta


class OrderReleased(CustomerEvent):
    """A hold on an order lifted (by its releaser, or by the event that fixes it)."""

    TOPIC = "orders.Order.OrderReleased"
    rule: str
    by: str
    status: str
    meta: Meta


class OrderHeld(CustomerEvent):
    """O6/O7 rev 2: an order freed of its other holds held again over the limit."""

    TOPIC = "orders.Order.OrderHeld"
    rule: str
    message: str
    status: str
    meta: Meta


class OrderShipped(CustomerEvent):
    """O11: a shipment of an order (partial or complete), raising a receivable."""

    TOPIC = "orders.Order.OrderShipped"
    shipment_id: str
    lines: list[dict[str, Any]]
    amount: Decimal
    due_on: date
    status: str
    meta: Meta


class CreditApplied(CustomerEvent):
    """O9: the customer's credit paid toward the order."""

    TOPIC = "orders.Order.CreditApplied"
    amount: Decimal
    meta: Meta


class PaymentReceived(CustomerEvent):
    """O11: a payment on an order."""

    TOPIC = "orders.Order.PaymentReceived"
    amount: Decimal
    status: str
    meta: Meta


class OrderCancelled(CustomerEvent):
    """O1: an order cancelled before it shipped."""

    TOPIC = "orders.Order.OrderCancelled"
    reason: str
    meta: Meta
