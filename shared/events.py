"""Events declared once: a service's published event contract (a pydantic model per event, ``EventContract``,
for events other services decode) and the aggregate's event classes made from it (``aggregate_event``);
finding a service's event classes, for the contract document."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

from eventsourcing.domain import AggregateCreated, CanMutateAggregate
from eventsourcing.utils import resolve_topic
from pydantic import BaseModel, ConfigDict

from shared.aggregate import Meta, SalesAggregate

# The fields each version of an event added, with the value an event of an earlier version stands for.
Added = Mapping[int, Mapping[str, Any]]


class EventContract(BaseModel):
    """One event of a service's contract: its ``data``, typed. The class name is the event type."""

    model_config = ConfigDict(frozen=True)  # fields a newer release adds are passed over

    TOPIC: ClassVar[str]  # pinned: where the stored event's class is found, whatever module declares it
    VERSION: ClassVar[int] = 1
    ADDED: ClassVar[Added] = {}

    @classmethod
    def upcast(cls, data: Mapping[str, Any], version: int) -> dict[str, Any]:
        """``data`` of a ``version`` event as this version reads it (fields it has are kept)."""
        upcast = dict(data)
        for later in range(version + 1, cls.VERSION + 1):
            for name, value in cls.ADDED.get(later, {}).items():
                upcast.setdefault(name, value)
        return upcast


def aggregate_event(contract: type[EventContract], created: bool = False) -> Any:
    """The aggregate's event class of ``contract`` (for ``@event(...)``; ``created``: the event that creates
    the aggregate): the contract's fields in its order with the ``meta`` every event carries after those
    every version has, its pinned topic, its version and an upcaster per later version. Stored events keep
    that order, so they are written byte for byte as by a class declared by hand."""
    fields = contract.model_fields
    later = {name: field for name, field in fields.items() if not field.is_required()}
    annotations = {name: field.annotation for name, field in fields.items() if name not in later}
    annotations["meta"] = Meta
    annotations |= {name: field.annotation for name, field in later.items()}
    namespace: dict[str, Any] = {
        "__annotations__": annotations,
        "__doc__": contract.__doc__,
        "__module__": contract.__module__,
        "TOPIC": contract.TOPIC,
        "CONTRACT": contract,  # what the contract document publishes of it (``event_contract``)
        **{name: field.default for name, field in later.items()},
    }
    if contract.VERSION > 1:
        namespace["class_version"] = contract.VERSION
        for version in range(2, contract.VERSION + 1):
            namespace[f"upcast_v{version - 1}_v{version}"] = _upcaster(contract.ADDED[version])
    bases = (SalesAggregate.Event, AggregateCreated) if created else (SalesAggregate.Event,)
    return type(contract.__name__, bases, namespace)


def _upcaster(added: Mapping[str, Any]) -> staticmethod[[dict[str, object]], None]:
    def upcast(state: dict[str, object]) -> None:
        state.update(added)

    return staticmethod(upcast)


def event_contract(event_class: type) -> type[EventContract] | None:
    """The contract an aggregate's event class was made from (None: one declared by hand)."""
    contract: type[EventContract] | None = getattr(event_class, "CONTRACT", None)
    return contract


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
