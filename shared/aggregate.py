"""Aggregate base for every write service: who did it, when (from the injected clock) and why it was asked.

Every command method of an aggregate takes a ``Meta``; it is stored in the event, becomes the
envelope's actor / correlation / causation, and its ``at`` is the event's timestamp.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

import orjson
from eventsourcing.domain import AggregateCreated, AggregateEvent, BaseAggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from shared.contracts import Actor, Role
from shared.errors import DomainError, Forbidden, InvalidState


@dataclass(frozen=True)
class Meta:
    actor_id: str
    actor_role: str
    correlation_id: str
    causation_id: str
    at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(id=self.actor_id, role=Role(self.actor_role))


# The sales ladder, lowest first: "X or above" means X or any later role here.
LADDER: tuple[Role, ...] = (
    Role.SALESPERSON,
    Role.SALES_SUPERVISOR,
    Role.SALES_MANAGER,
    Role.REGIONAL_MANAGER,
    Role.MARKETING_DIRECTOR,
    Role.SALES_VP,
    Role.GENERAL_MANAGER,
)


def at_least(role: Role) -> frozenset[Role]:
    return frozenset(LADDER[LADDER.index(role) :])


def require_role(meta: Meta, allowed: Iterable[Role], rule: str, action: str) -> None:
    """Refuse (naming the rule) unless the acting role is one of ``allowed``."""
    allowed = frozenset(allowed)
    if meta.actor_role not in allowed:
        raise Forbidden(
            f"{meta.actor_role} may not {action}",
            rule=rule,
            details={"role": meta.actor_role, "allowed": sorted(r.value for r in allowed)},
        )


def refuse(rule: str, message: str, **details: Any) -> DomainError:
    """The refusal of bad input under ``rule`` (``details`` name the field and values concerned): raise it."""
    return DomainError(message, rule=rule, details=details)


def require_status(status: StrEnum, allowed: Iterable[StrEnum], rule: str, action: str, subject: str) -> None:
    """Refuse (naming the rule) to ``action`` a ``subject`` ("a complaint") unless its status is allowed."""
    allowed = frozenset(allowed)
    if status not in allowed:
        raise InvalidState(
            f"cannot {action} {subject} that is {status.value}",
            rule=rule,
            details={"status": status.value, "allowed": sorted(s.value for s in allowed)},
        )


class SalesAggregate(BaseAggregate[UUID]):
    """Takes each event's timestamp from the ``meta`` it carries (the injected clock), not the system.

    Subclasses pin their topics (``TOPIC`` and ``@event(name, topic=...)``) so that moving or renaming
    a class never breaks loading stored events.

    One that keeps its created event's fields as they are may be a dataclass, as in the library: it names
    the created event in its body, declares the fields it keeps, sets the rest of its state in
    ``__post_init__``, and is created with ``_create(created event, ...)`` (``Reservation``).
    """

    TOPIC: ClassVar[str]
    # Attributes holding dicts whose values the aggregate replaces and never changes in place: a copy
    # shares those values, copying a dict of references instead of every entry (see ``__deepcopy__``).
    SHARED_VALUES: ClassVar[frozenset[str]] = frozenset()

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        return uuid4()

    class Event(AggregateEvent):
        pass

    class Created(Event, AggregateCreated):
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # An event class of a service's event contract named in ``@event(EventClass)`` is looked up on the
        # aggregate by its name: put it there, so the aggregate names each event once, in its decorator.
        for value in list(vars(cls).values()):
            given = getattr(value, "given_event_cls", None)
            if isinstance(given, type) and given.__name__ not in vars(cls):
                setattr(cls, given.__name__, given)
        super().__init_subclass__(**kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        _stamp(kwargs)
        super().trigger_event(_own(type(self), event_class), **kwargs)

    def record(self, declared: type, meta: Meta, **fields: Any) -> None:
        """Trigger the event ``declared`` (by its contract class) with ``fields``, what every event of the
        aggregate names it by (``_refs``) and the command's ``meta``."""
        self.trigger_event(declared, **(fields | self._refs()), meta=meta)

    def _refs(self) -> dict[str, Any]:
        """The fields every event of the aggregate carries to name it (its customer, kind…): none here."""
        return {}

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Self:
        _stamp(kwargs)
        return super()._create(_own(cls, event_class), id=id, **kwargs)

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # The repository hands every command a deep copy of the cached aggregate: a generic deepcopy of
        # an account with its orders was a fifth of a command's CPU. The state is plain data.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        shared = self.SHARED_VALUES
        clone.__dict__.update(
            {
                name: dict(value) if name in shared else plain_copy(value, memo)
                for name, value in self.__dict__.items()
            }
        )
        return clone


# The base of a service's "created" events (``events.py``). The library copies a base class's event
# classes onto every subclass, where a pinned topic is then required of them too; the base "created" class
# stays known to the library as the one to derive from.
CreatedEvent = SalesAggregate.Created
del SalesAggregate.Created


def _own(aggregate: type, event_class: type) -> Any:
    """The aggregate's own subclass of a contract's event class (the one whose topic the library pinned
    and whose ``@event`` method applies it); the library's own classes are their own."""
    return getattr(aggregate, event_class.__name__)


_IMMUTABLE: set[type] = {str, int, bool, float, type(None), Decimal, date, datetime, UUID, bytes}


def plain_copy(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy`` for plain data: dicts and lists are rebuilt (shared ones stay shared), immutable
    values are kept, anything else goes to ``copy.deepcopy``. Immutable items are kept without a call:
    they are most of an aggregate's state."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict or kind is list:
        found = memo.get(id(value))
        if found is None:
            immutable = _IMMUTABLE
            if kind is dict:
                found = memo[id(value)] = {}
                for key, item in value.items():
                    found[key] = item if type(item) in immutable else plain_copy(item, memo)
            else:
                found = memo[id(value)] = []
                found.extend(item if type(item) in immutable else plain_copy(item, memo) for item in value)
        return found
    if issubclass(kind, Enum):
        _IMMUTABLE.add(kind)
        return value
    return copy.deepcopy(value, memo)


def _stamp(kwargs: dict[str, Any]) -> None:
    meta = kwargs.get("meta")
    if isinstance(meta, Meta):
        kwargs["timestamp"] = meta.at


class MetaAsDict(Transcoding):
    type = Meta
    name = "meta"

    def encode(self, obj: Meta) -> dict[str, str]:
        return {
            "actor_id": obj.actor_id,
            "actor_role": obj.actor_role,
            "correlation_id": obj.correlation_id,
            "causation_id": obj.causation_id,
            "at": obj.at.isoformat(),
        }

    def decode(self, data: dict[str, str]) -> Meta:
        return Meta(
            actor_id=data["actor_id"],
            actor_role=data["actor_role"],
            correlation_id=data["correlation_id"],
            causation_id=data["causation_id"],
            at=datetime.fromisoformat(data["at"]),
        )


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


# What both encoders below write alike: exact types only (a subclass, a UUID, a float or an enum of its
# own is written by orjson its own way), in dicts with str keys, lists and tuples (both write arrays).
_SAME_IN_BOTH: frozenset[type] = frozenset({str, int, bool, type(None), Decimal, date, datetime, Meta})
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class SalesTranscoder(JSONTranscoder):
    """The library's JSON transcoder whose encoding orjson writes, byte for byte the same and ~3x quicker,
    for a state made of the types both write alike (``_SAME_IN_BOTH``); any other state is written by the
    library's encoder. The stored events' JSON was a tenth of a command's CPU. Decoding is the library's."""

    def encode(self, obj: Any) -> bytes:
        if _written_alike(obj):
            try:
                return orjson.dumps(obj, default=self._encode_obj, option=_ORJSON_OPTIONS)
            except orjson.JSONEncodeError:  # an int beyond 64 bits
                pass
        return super().encode(obj)


def _written_alike(value: Any) -> bool:
    # Loops rather than all() over generators, and no call for a plain item: every stored event's state
    # goes through this, and the generators' frames were half of encoding it.
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SAME_IN_BOTH and not _written_alike(item)):
                return False
        return True
    if kind is list or kind is tuple:  # an account's entries hold tuples (``CustomerAccount``)
        for item in value:  # noqa: SIM110 (a loop: see above)
            if type(item) not in _SAME_IN_BOTH and not _written_alike(item):
                return False
        return True
    return kind in _SAME_IN_BOTH
