"""Events of a weekly request list (O13)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventsourcing.domain import AggregateCreated

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class RequestListSubmitted(AggregateCreated):
    """O13: a branch's request list for next week."""

    TOPIC = "orders.RequestList.RequestListSubmitted"
    customer_id: str
    week: str
    lines: list[dict[str, Any]]
    meta: Meta


class RequestListMatched(CustomerEvent):
    """O13: the week's request list matched against what was ordered."""

    TOPIC = "orders.RequestList.RequestListMatched"
    week: str
    match_rate: Decimal
    ordered: dict[str, int]
    meta: Meta
