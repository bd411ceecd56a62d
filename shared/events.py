"""Events declared once: a service's published event contract (a pydantic model per event, ``EventContract``,
in ``shared/<service>_contract``, for the services that read its events) and the aggregate's event classes
made from it (``aggregate_event``, ``aggregate_events``); finding a service's event classes, for the contract
document."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.domain import AggregateCreated, CanMutateAggregate
from eventsourcing.utils import resolve_topic
from pydantic import BaseModel, ConfigDict

from shared.aggregate import Meta, SalesAggregate
from shared.contracts import Envelope

# The fields each version of an event added, with the value an event of an earlier version stands for.
Added = Mapping[int, Mapping[str, Any]]


class EventContract(BaseModel):
    """One event of a service's contract: its ``data``, typed. The class name is the event type.

    A class declared with ``family=True``, or naming an ``aggregate``, is no event itself but the family of
    those derived from it: it names their service or aggregate, or the fields they all begin with."""

    model_config = ConfigDict(frozen=True)  # fields a newer release adds are passed over

    SERVICE: ClassVar[str]  # the service whose stream carries the event
    AGGREGATE: ClassVar[str]  # the aggregate that records it
    TOPIC: ClassVar[str]  # pinned: where the stored event's class is found, whatever module declares it
    CREATED: ClassVar[bool] = False  # the event that creates its aggregate
    VERSION: ClassVar[int] = 1
    ADDED: ClassVar[Added] = {}

    def __init_subclass__(cls, family: bool = False, aggregate: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if aggregate:
            cls.AGGREGATE = aggregate
        elif not family:
            cls.TOPIC = f"{cls.SERVICE}.{cls.AGGREGATE}.{cls.__name__}"

    @classmethod
    def key(cls) -> tuple[str, str]:
        """(service, event type): how a consumer of several streams files the event (an envelope's
        ``service`` and ``event_type``)."""
        return cls.SERVICE, cls.__name__

    @classmethod
    def upcast(cls, data: Mapping[str, Any], version: int) -> dict[str, Any]:
        """``data`` of a ``version`` event as this version reads it (fields it has are kept)."""
        upcast = dict(data)
        for later in range(version + 1, cls.VERSION + 1):
            for name, value in cls.ADDED.get(later, {}).items():
                upcast.setdefault(name, value)
        return upcast


Declared = TypeVar("Declared", bound=EventContract)


class Decoder(Generic[Declared]):
    """A stream's envelopes as its contract's typed events, upcast to this release's version. An event
    type this release does not know decodes to None, so a consumer passes over it (a newer release's event
    during a rolling upgrade)."""

    def __init__(self, service: str, events: Iterable[type[Declared]]) -> None:
        self.service = service
        self.events = {declared.__name__: declared for declared in events}

    def data(self, event_type: str, data: Mapping[str, Any], schema_version: int = 1) -> Declared | None:
        """The event of that type, version and data (None: a type this release does not know). Data kept
        without its version is read as of the first: the upcasts then fill only the fields it lacks (an
        event of a later version has them already)."""
        model = self.events.get(event_type)
        if model is None:
            return None
        return model.model_validate(model.upcast(data, schema_version))

    def __call__(self, envelope: Envelope) -> Declared | None:
        """The envelope's event (None: not one of this stream's this release knows)."""
        if envelope.service != self.service:
            return None
        return self.data(envelope.event_type, envelope.data, envelope.schema_version)


def contract_events(contract: ModuleType) -> list[type[EventContract]]:
    """The events a service's contract module declares, in declaration order (not their families)."""
    return [
        value
        for value in vars(contract).values()
        if isinstance(value, type) and issubclass(value, EventContract) and "TOPIC" in vars(value)
    ]


def aggregate_event(contract: type[EventContract]) -> Any:
    """The aggregate's event class of ``contract`` (for ``@event(...)``): the contract's fields in its order
    with the ``meta`` every event carries after those every version has, its pinned topic, its version and
    an upcaster per later version. Stored events keep that order, so they are written byte for byte as by
    a class declared by hand."""
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
    bases = (SalesAggregate.Event, AggregateCreated) if contract.CREATED else (SalesAggregate.Event,)
    return type(contract.__name__, bases, namespace)


def aggregate_events(contract: ModuleType) -> Callable[[str], Any]:
    """The ``__getattr__`` of a service's module of aggregate event classes (``services/<svc>/events.py``):
    ``events.OrderShipped`` is the class ``aggregate_event`` made of the contract's ``OrderShipped``, made
    once for every event the contract declares, so the aggregates name each by its contract's name. Typed
    Any, as ``aggregate_event``'s classes are: an aggregate subclasses some and hands them to ``@event``."""
    made = {declared.__name__: aggregate_event(declared) for declared in contract_events(contract)}

    def event_class(name: str) -> Any:
        try:
            return made[name]
        except KeyError:
            raise AttributeError(f"{contract.__name__} declares no event {name}") from None

    return event_class


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
    """Every event a service's contract module (``shared/<service>_contract``) declares, in declaration
    order, as the class its aggregate stores under the pinned topic (the class ``aggregate_event`` made,
    with the aggregate's ``@event`` method)."""
    return [resolve_topic(declared.TOPIC) for declared in contract_events(contract)]


def _published(value: object) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, CanMutateAggregate)
        and bool(getattr(value, "TOPIC", None))
    )
