"""Turning a stored domain event into the bus envelope (and its event data schema for the contract)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import resolve_topic
from pydantic import BaseModel, create_model
from pydantic_core import to_jsonable_python

from shared.aggregate import DateAsISO, Meta, MetaAsDict
from shared.contracts import Actor, DecimalText, Envelope, Role
from shared.events import event_contract

EVENT_NAMESPACE = uuid.UUID("0b7e2f0e-5c1a-4b8e-93c4-2a61f0d4e7a2")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
# Attributes every stored event has; the envelope carries them outside ``data``.
BASE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "meta"})


def event_type(event_class: type) -> str:
    return event_class.__name__


def aggregate_type(event_class: type) -> str:
    return event_class.__qualname__.split(".")[0]


def event_id(aggregate_id: str, version: int) -> str:
    """Stable across re-sends: the same stored event always has the same id, the name-based (version 5)
    UUID of ``aggregate_id:version`` in ``EVENT_NAMESPACE``.

    RFC 4122's steps spelled out on the SHA-1 digest's hex: ``str(uuid.uuid5(...))`` builds two UUID
    objects on the way and cost a fifth of the relay's CPU, three times this."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{aggregate_id}:{version}".encode()).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 3]  # the top two bits of byte 8 set to 10
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


def to_envelope(event: Any, service: str, position: int) -> Envelope:
    meta: Meta | None = getattr(event, "meta", None)
    aggregate_id = str(event.originator_id)
    data = {k: v for k, v in event.__dict__.items() if k not in BASE_FIELDS}
    return Envelope(
        event_id=event_id(aggregate_id, event.originator_version),
        event_type=event_type(type(event)),
        schema_version=getattr(type(event), "class_version", 1),
        service=service,
        aggregate_type=aggregate_type(type(event)),
        aggregate_id=aggregate_id,
        aggregate_version=event.originator_version,
        position=position,
        occurred_at=event.timestamp,
        actor=Actor(id=meta.actor_id, role=Role(meta.actor_role)) if meta else None,
        correlation_id=meta.correlation_id if meta else None,
        causation_id=meta.causation_id if meta else None,
        data=to_jsonable_python(data),
    )


@dataclasses.dataclass(frozen=True)
class _EventClass:
    event_type: str
    aggregate_type: str
    schema_version: int


class EnvelopeEncoder:
    """Stored event → envelope JSON, without building the domain event object or the ``Envelope`` model.

    The relay's hot path. It gives the same JSON as ``to_envelope`` of the mapper's domain event dumped
    with ``model_dump(mode="json")`` (tests/unit/test_envelope_fast_path.py holds it to that for every
    event class): the stored JSON is loaded as is, and only the transcoded values are turned into what
    pydantic would write for the object (a decimal's or a date's stored text already is).
    """

    def __init__(self, mapper: Mapper[UUID], service: str) -> None:
        assert isinstance(mapper.transcoder, JSONTranscoder)
        self.mapper = mapper
        self.service = service
        self.transcodings: dict[str, Transcoding] = mapper.transcoder.names
        assert isinstance(self.transcodings.get("meta"), MetaAsDict)  # the actor is read from its dict
        self.json_forms: dict[str, Callable[[Any], Any]] = {
            name: _JSON_FORMS.get(type(transcoding), self._generic_json_form(transcoding))
            for name, transcoding in self.transcodings.items()
        }

    def encode(
        self, originator_id: UUID, version: int, topic: str, state: bytes, position: int
    ) -> tuple[str, bytes]:
        """(event type, envelope JSON) of one stored event at notification ``position``."""
        event_class = _event_class(topic)
        stored = self._load(state)
        stored_version = stored.pop("class_version", 1)
        if stored_version < event_class.schema_version:
            # Upcasters work on the decoded objects: an old event goes the mapper's and the model's way.
            event = self.mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
            envelope = to_envelope(event, self.service, position)
            return event_class.event_type, orjson.dumps(envelope.model_dump(mode="json"))
        stored_meta = stored.get("meta")
        meta: dict[str, str] | None = stored_meta["_data_"] if stored_meta else None
        aggregate_id = str(originator_id)
        body = {
            "event_id": event_id(aggregate_id, version),
            "event_type": event_class.event_type,
            # A newer release's event (a rolling upgrade: this release's relay publishing what the next
            # one stored) goes out under the version it was stored as, not this release's older one.
            "schema_version": stored_version,
            "service": self.service,
            "aggregate_type": event_class.aggregate_type,
            "aggregate_id": aggregate_id,
            "aggregate_version": version,
            "position": position,
            "occurred_at": self._json(stored["timestamp"]),
            # Role() refuses a role outside the contract, as the Envelope model does.
            "actor": {"id": meta["actor_id"], "role": Role(meta["actor_role"]).value} if meta else None,
            "correlation_id": meta["correlation_id"] if meta else None,
            "causation_id": meta["causation_id"] if meta else None,
            # Most values are plain JSON already: skip the call for them (a hot loop).
            "data": {
                k: self._json(v) if type(v) in _CONTAINERS else v
                for k, v in stored.items()
                if k not in BASE_FIELDS
            },
        }
        return event_class.event_type, orjson.dumps(body)

    def _load(self, state: bytes) -> dict[str, Any]:
        if self.mapper.cipher:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor:
            state = self.mapper.compressor.decompress(state)
        # orjson reads an integer beyond 64 bits as a float, but none is stored: commands bound their
        # numbers (and orjson could not write one on the model's path either).
        try:
            loaded: dict[str, Any] = orjson.loads(state)
        except orjson.JSONDecodeError:  # NaN or Infinity, which the stdlib encoder writes and orjson refuses
            loaded = json.loads(state)
        return loaded

    def _json(self, value: Any) -> Any:
        """A stored value as pydantic's JSON of the decoded object."""
        kind = type(value)
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self.json_forms[value["_type_"]](value["_data_"])
            return {k: self._json(v) for k, v in value.items()}
        if kind is list:
            return [self._json(v) for v in value]
        return value

    def _decode(self, value: Any) -> Any:
        """The transcoder's object hook, top-down: ``{"_type_": name, "_data_": ...}`` → the object."""
        kind = type(value)
        if kind is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self.transcodings[value["_type_"]].decode(self._decode(value["_data_"]))
            return {k: self._decode(v) for k, v in value.items()}
        if kind is list:
            return [self._decode(v) for v in value]
        return value

    def _generic_json_form(self, transcoding: Transcoding) -> Callable[[Any], Any]:
        return lambda data: to_jsonable_python(transcoding.decode(self._decode(data)))


def _datetime_json(text: str) -> Any:
    """pydantic writes a zero UTC offset as "Z" and anything else of whole minutes as isoformat does."""
    if len(text) in (19, 26):  # naive, with or without microseconds
        return text
    if len(text) in (25, 32) and text[-6] in "+-" and text[-3] == ":":
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return to_jsonable_python(datetime.fromisoformat(text))


_CONTAINERS = (dict, list)

# Transcodings whose stored text maps to pydantic's JSON of the object without decoding it.
_JSON_FORMS: dict[type[Transcoding], Callable[[Any], Any]] = {
    DecimalAsStr: lambda text: text,  # str(Decimal(str(d))) == str(d), and pydantic writes str(d)
    DateAsISO: lambda text: text,
    DatetimeAsISO: _datetime_json,
    UUIDAsHex: lambda text: str(UUID(text)),
}


@functools.cache
def _event_class(topic: str) -> _EventClass:
    cls = resolve_topic(topic)
    return _EventClass(event_type(cls), aggregate_type(cls), getattr(cls, "class_version", 1))


def _published(hint: Any) -> Any:
    """The hint as the event's JSON carries it: a Decimal (also in an optional) is its decimal text."""
    if hint is Decimal:
        return DecimalText
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        published = tuple(_published(arg) for arg in typing.get_args(hint))
        return typing.Union[published]  # noqa: UP007 (a union built at run time)
    return hint


def data_model(event_class: type) -> type[BaseModel]:
    """A pydantic model of an event class's ``data``, for the published contract: the service's event
    contract where the class was made from it, else read from the class's fields."""
    contract = event_contract(event_class)
    if contract is not None:
        return create_model(f"{event_class.__name__}Data", __base__=contract)
    hints = typing.get_type_hints(event_class)
    # A field with a default came with a later class version: an event of an earlier one lacks it.
    fields: dict[str, Any] = {
        f.name: (_published(hints.get(f.name, Any)), ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(event_class)
        if f.name not in BASE_FIELDS
    }
    return create_model(f"{event_class.__name__}Data", **fields)


def envelope_model(event_class: type) -> type[BaseModel]:
    return create_model(
        f"{event_class.__name__}Envelope", __base__=Envelope, data=(data_model(event_class), ...)
    )
