"""Orders' stored events load wherever their classes live: every topic is pinned, not a module path."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from services.orders import domain
from shared.events import event_classes

# Every event class an orders aggregate stores, found on the aggregates.
EVENTS = event_classes(*domain.AGGREGATES)


@pytest.mark.parametrize("event_class", EVENTS, ids=lambda cls: cls.__qualname__)
def test_every_orders_event_is_stored_under_its_pinned_topic(event_class: type) -> None:
    topic = get_topic(event_class)
    aggregate, name = event_class.__qualname__.split(".")
    assert topic == f"orders.{aggregate}.{name}"  # as stored before the domain became a package
    assert resolve_topic(topic) is event_class


@pytest.mark.parametrize(
    "name",
    [
        "Product",
        "PriceException",
        "Order",
        "CustomerAccount",
        "Reservation",
        "HoldBook",
        "DueBook",
        "RequestList",
    ],
)
def test_every_orders_aggregate_is_stored_under_its_pinned_topic(name: str) -> None:
    aggregate = getattr(domain, name)
    assert get_topic(aggregate) == f"orders.{aggregate.__name__}"
    assert resolve_topic(f"orders.{aggregate.__name__}") is aggregate
