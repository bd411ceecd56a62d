"""Events of a price exception (O2)."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.domain import AggregateCreated, AggregateEvent

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


class PriceExceptionApproved(AggregateEvent):
    """O2: the general manager approved a price exception."""

    TOPIC = "orders.PriceException.PriceExceptionApproved"
    customer_id: str
    by: str
    meta: Meta


class PriceExceptionVoted(AggregateEvent):
    """O2: a department head's vote on a major reduction."""

    TOPIC = "orders.PriceException.PriceExceptionVoted"
    customer_id: str
    role: str
    in_favour: bool
    meta: Meta


class PriceExceptionGranted(AggregateEvent):
    """O2: a price exception in force."""

    TOPIC = "orders.PriceException.PriceExceptionGranted"
    customer_id: str
    product_code: str
    unit_price: Decimal
    meta: Meta
