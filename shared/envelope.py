"""Turning a stored domain event into the bus envelope (and its event data schema for the contract)."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from typing import Any

from pydantic import BaseModel, create_model
from pydantic_core import to_jsonable_python

from shared.aggregate import Meta
from shared.contracts import Actor, Envelope, Role

EVENT_NAMESPACE = uuid.UUID("0b7e2f0e-5c1a-4b8e-93c4-2a61f0d4e7a2")
# Attributes every stored event has; the envelope carries them outside ``data``.
BASE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", "meta"})


def event_type(event: object) -> str:
    return type(event).__name__


def aggregate_type(event: object) -> str:
    return type(event).__qualname__.split(".")[0]


def event_id(aggregate_id: str, version: int) -> str:
    """Stable across re-sends: the same stored event always has the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{aggregate_id}:{version}"))


def to_envelope(event: Any, service: str, position: int) -> Envelope:
    meta: Meta | None = getattr(event, "meta", None)
    aggregate_id = str(event.originator_id)
    data = {k: v for k, v in event.__dict__.items() if k not in BASE_FIELDS}
    return Envelope(
        event_id=event_id(aggregate_id, event.originator_version),
        event_type=event_type(event),
        schema_version=getattr(type(event), "class_version", 1),
        service=service,
        aggregate_type=aggregate_type(event),
        aggregate_id=aggregate_id,
        aggregate_version=event.originator_version,
        position=position,
        occurred_at=event.timestamp,
        actor=Actor(id=meta.actor_id, role=Role(meta.actor_role)) if meta else None,
        correlation_id=meta.correlation_id if meta else None,
        causation_id=meta.causation_id if meta else None,
        data=to_jsonable_python(data),
    )


def data_model(event_class: type) -> type[BaseModel]:
    """A pydantic model of an event class's ``data``, for the published contract."""
    hints = typing.get_type_hints(event_class)
    fields: dict[str, Any] = {
        f.name: (hints.get(f.name, Any), ...)
        for f in dataclasses.fields(event_class)
        if f.name not in BASE_FIELDS
    }
    return create_model(f"{event_class.__name__}Data", **fields)


def envelope_model(event_class: type) -> type[BaseModel]:
    return create_model(
        f"{event_class.__name__}Envelope", __base__=Envelope, data=(data_model(event_class), ...)
    )
