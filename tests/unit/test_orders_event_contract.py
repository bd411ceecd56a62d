"""Orders' events are declared once, in the event contract (``services.orders.domain.events``): the
aggregates store subclasses of those declarations, and the published AsyncAPI document describes them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from services.orders.domain import AGGREGATES
from services.orders.domain.events import EVENTS as DECLARED
from shared.envelope import BASE_FIELDS
from shared.events import event_classes

# Every event class an orders aggregate stores, found on the aggregates (not from the contract).
STORED = event_classes(*AGGREGATES)

ROOT = Path(__file__).resolve().parents[2]


def data_fields(event_class: type) -> list[str]:
    """The event's ``data`` in the envelope: its fields but those every stored event has."""
    return [f.name for f in dataclasses.fields(event_class) if f.name not in BASE_FIELDS]


def published_schemas() -> dict[str, Any]:
    document = json.loads((ROOT / "docs" / "asyncapi" / "orders.json").read_text())
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_every_stored_orders_event_is_its_one_declaration_in_the_contract() -> None:
    declared_in = {
        stored: [declared for declared in DECLARED if issubclass(stored, declared)] for stored in STORED
    }
    assert all(len(found) == 1 for found in declared_in.values()), declared_in
    assert sorted(found[0].__name__ for found in declared_in.values()) == sorted(c.__name__ for c in DECLARED)
    for stored, (declared,) in declared_in.items():
        assert stored.__name__ == declared.__name__
        assert getattr(stored, "TOPIC", None) == getattr(declared, "TOPIC", None)
        assert data_fields(stored) == data_fields(declared)  # the aggregate adds no field of its own


@pytest.mark.parametrize("event_class", DECLARED, ids=lambda cls: cls.__name__)
def test_every_orders_event_class_s_fields_equal_its_contract_schema_s_properties(event_class: type) -> None:
    schema = published_schemas()[f"{event_class.__name__}Data"]
    assert set(schema["properties"]) == set(data_fields(event_class))
    defaulted = {f.name for f in dataclasses.fields(event_class) if f.default is not dataclasses.MISSING}
    assert schema.get("required", []) == [name for name in data_fields(event_class) if name not in defaulted]
