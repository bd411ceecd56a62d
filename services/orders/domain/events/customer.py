"""The base of the orders events about one customer."""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent


class CustomerEvent(AggregateEvent):
    """An event about one customer: its data begins with the customer's id (what reporting keys it by)."""

    customer_id: str
