"""Finding an aggregate's event classes, for the contract document."""

from __future__ import annotations

from eventsourcing.domain import CanMutateAggregate


def event_classes(*aggregates: type) -> list[type]:
    """Every event class an aggregate defines (those with a pinned topic), in definition order."""
    found: list[type] = []
    for aggregate in aggregates:
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, CanMutateAggregate)
                and getattr(value, "TOPIC", None)
            ):
                found.append(value)
    return found
