"""Finding a service's event classes, for the contract document."""

from __future__ import annotations

from types import ModuleType

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import resolve_topic


def event_classes(*aggregates: type) -> list[type]:
    """Every event class an aggregate defines (those with a pinned topic), in definition order."""
    return [value for aggregate in aggregates for value in vars(aggregate).values() if _published(value)]


def declared_events(contract: ModuleType) -> list[type]:
    """Every event a service's event contract module (``services/<service>/events.py``) declares, in
    declaration order, as the class its aggregate stores under the pinned topic (the contract's class
    with the aggregate's ``@event`` method)."""
    return [resolve_topic(value.TOPIC) for value in vars(contract).values() if _published(value)]


def _published(value: object) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, CanMutateAggregate)
        and bool(getattr(value, "TOPIC", None))
    )
