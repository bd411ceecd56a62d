"""Events of a price exception (O2)."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.domain import AggregateCreated

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class PriceExceptionRequested(AggregateCreated):
    """O2: a price below list asked for one customer and product."""

    TOPIC = "orders.PriceException.PriceExceptionRequested"
    customer_id: str
    product_code: str
    unit_price: Decimal
    list_price: Decimal
    reduction_pct: Decimal
    major: bool
    reason: str
    meta: Meta


class PriceExceptionApproved(CustomerEvent):
    """O2: the general manager approved a price exception."""

    TOPIC = "orders.PriceException.PriceExceptionApproved"
    by: str
    meta: Meta


class PriceExceptionVoted(CustomerEvent):
    """O2: a department head's vote on a major reduction."""

    TOPIC = "orders.PriceException.PriceExceptionVoted"
    role: str
    in_favour: bool
    meta: Meta


class PriceExceptionGranted(CustomerEvent):
    """O2: a price exception in force."""

    TOPIC = "orders.PriceException.PriceExceptionGranted"
    product_code: str
    unit_price: Decimal
    meta: Meta
