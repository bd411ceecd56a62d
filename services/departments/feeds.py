"""O10: what each department has to act on, decided from the orders stream alone (pure: no I/O).

Marketing, finance and production each keep a copy of every order they hear of (``OrderFacts``), built
from the order's events in stream order, and a to-do derived from it:

- production makes and ships accepted orders: ``make`` while production was requested for it (O8),
  else ``ship`` while it is accepted and not all of it has gone out;
- finance collects what was shipped: ``collect`` while shipped and unpaid, ``collect_overdue`` once a
  receivable of it is overdue (O11);
- marketing follows up new business: ``follow_up`` for an order placed and not cancelled, until it is
  paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.contracts import Envelope, Role
from shared.orders_contract import (
    OrderCancelled,
    OrderHeld,
    OrderPlaced,
    OrderReleased,
    OrderShipped,
    PaymentReceived,
    ProductionRequested,
    ReceivableOverdue,
    decode,
)


class Department(StrEnum):
    MARKETING = "marketing"
    FINANCE = "finance"
    PRODUCTION = "production"


# Who may read a department's feed: its own people, and the general manager.
READERS: dict[Department, frozenset[Role]] = {
    Department.MARKETING: frozenset({Role.MARKETING_DIRECTOR, Role.GENERAL_MANAGER}),
    Department.FINANCE: frozenset({Role.FINANCE, Role.GENERAL_MANAGER}),
    Department.PRODUCTION: frozenset({Role.PRODUCTION, Role.GENERAL_MANAGER}),
}

# The order events a feed is built from (the rest of the stream is acknowledged and skipped).
ORDER_EVENTS = frozenset(
    declared.__name__
    for declared in (
        OrderPlaced,
        OrderReleased,
        OrderHeld,
        OrderShipped,
        OrderCancelled,
        PaymentReceived,
        ProductionRequested,
        ReceivableOverdue,
    )
)
ACCEPTED = frozenset({"accepted", "shipped"})  # the statuses an order is made and shipped in


@dataclass(frozen=True)
class OrderFacts:
    """One order as a department knows it from the events."""

    order_id: str
    customer_id: str
    placed_at: datetime
    updated_at: datetime
    status: str = "placed"
    order_number: str = ""
    region: str = ""
    channel: str = ""
    total_amount: Decimal = Decimal("0")
    shipped_amount: Decimal = Decimal("0")
    paid_amount: Decimal = Decimal("0")
    ordered: dict[str, int] = field(default_factory=dict)  # product code → quantity
    shipped: dict[str, int] = field(default_factory=dict)
    to_make: int = 0  # quantity production was asked to make for it (O8)
    overdue: bool = False


def _quantities(lines: list[dict[str, Any]], into: dict[str, int] | None = None) -> dict[str, int]:
    counted = dict(into or {})
    for line in lines:
        counted[line["product_code"]] = counted.get(line["product_code"], 0) + int(line["quantity"])
    return counted


def order_of(event: Envelope) -> str:
    """The order an event is about: an order's own events, or one naming it (a product's production
    request, an account's overdue receivable)."""
    match decode(event):
        case ProductionRequested(order_id=order_id) | ReceivableOverdue(order_id=order_id):
            return order_id
    return event.aggregate_id


def apply(facts: OrderFacts | None, event: Envelope) -> OrderFacts | None:
    """The order after ``event`` (None: an event of an order placed before the feed knew of it)."""
    at, decoded = event.occurred_at, decode(event)
    if isinstance(decoded, OrderPlaced):
        return OrderFacts(
            order_id=event.aggregate_id,
            customer_id=decoded.customer_id,
            placed_at=at,
            updated_at=at,
            status=decoded.status,
            order_number=decoded.order_number,
            region=decoded.region,
            channel=decoded.channel,
            total_amount=decoded.total_amount,
            ordered=_quantities(decoded.lines),
        )
    if facts is None:
        return None
    match decoded:
        case OrderReleased(status=status) | OrderHeld(status=status):
            facts = replace(facts, status=status)
        case OrderShipped():
            facts = replace(
                facts,
                status=decoded.status,
                shipped_amount=facts.shipped_amount + decoded.amount,
                shipped=_quantities(decoded.lines, facts.shipped),
                to_make=0,  # made: it went out
            )
        case OrderCancelled():
            facts = replace(facts, status="cancelled")
        case PaymentReceived():
            facts = replace(facts, status=decoded.status, paid_amount=facts.paid_amount + decoded.amount)
        case ProductionRequested():
            facts = replace(facts, to_make=facts.to_make + decoded.quantity)
        case ReceivableOverdue():
            facts = replace(facts, overdue=True)
    return replace(facts, updated_at=at)


def to_do(department: Department, facts: OrderFacts) -> str | None:
    """What ``department`` has to do about the order now (None: nothing)."""
    if department is Department.PRODUCTION:
        if facts.status not in ACCEPTED:
            return None
        if facts.to_make:
            return "make"
        unshipped = any(facts.shipped.get(code, 0) < qty for code, qty in facts.ordered.items())
        return "ship" if unshipped else None
    if department is Department.FINANCE:
        if facts.shipped_amount <= facts.paid_amount:
            return None
        return "collect_overdue" if facts.overdue else "collect"
    return None if facts.status in ("cancelled", "paid") else "follow_up"


def open_amount(department: Department, facts: OrderFacts) -> Decimal:
    """The money the department's to-do is about: finance's unpaid shipped amount, else the order total."""
    if department is Department.FINANCE:
        return max(facts.shipped_amount - facts.paid_amount, Decimal("0"))
    return facts.total_amount
