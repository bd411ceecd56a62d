"""Events of an order (O1–O11): intake, holds, shipments, payments."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.contracts import DecimalText
from shared.orders_contract.families import OfCustomer, OrdersEvent


class OrderEvent(OfCustomer, aggregate="Order"):
    """An event of an order, after the one that places it."""


class OrderPlaced(OrdersEvent):
    """O1: an order taken, priced, with the holds that keep it back (O4–O8)."""

    AGGREGATE = "Order"
    CREATED = True
    order_number: str
    customer_id: str
    customer_kind: str
    region: str
    salesperson_id: str
    channel: str
    lines: list[dict[str, Any]]
    total_amount: DecimalText
    status: str
    holds: list[dict[str, str]]
    reservation_id: str | None
    deposit_applied: DecimalText


class OverLimitApproved(OrderEvent):
    """O7: a branch's order over its capital limit approved."""

    amount: DecimalText
    capital_limit: DecimalText | None


class OrderReleased(OrderEvent):
    """A hold on an order lifted (by its releaser, or by the event that fixes it)."""

    rule: str
    by: str
    status: str


class OrderHeld(OrderEvent):
    """O6/O7 rev 2: an order freed of its other holds held again over the limit."""

    rule: str
    message: str
    status: str


class OrderShipped(OrderEvent):
    """O11: a shipment of an order (partial or complete), raising a receivable."""

    shipment_id: str
    lines: list[dict[str, Any]]
    amount: DecimalText
    due_on: date
    status: str


class CreditApplied(OrderEvent):
    """O9: the customer's credit paid toward the order."""

    amount: DecimalText


class PaymentReceived(OrderEvent):
    """O11: a payment on an order."""

    amount: DecimalText
    status: str


class OrderCancelled(OrderEvent):
    """O1: an order cancelled before it shipped."""

    reason: str
