"""Orders' events are declared once, in the event contract (``shared.orders_contract``): the aggregates
store classes made from those declarations, and the published AsyncAPI document describes them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from services.orders.domain import AGGREGATES
from shared import orders_contract
from shared.envelope import BASE_FIELDS
from shared.events import contract_events, event_classes, event_contract

# Every event class an orders aggregate stores, found on the aggregates (not from the contract).
STORED = event_classes(*AGGREGATES)
DECLARED = contract_events(orders_contract)

ROOT = Path(__file__).resolve().parents[2]


def data_fields(event_class: type) -> list[str]:
    """The event's ``data`` in the envelope: its fields but those every stored event has."""
    return [f.name for f in dataclasses.fields(event_class) if f.name not in BASE_FIELDS]


def published_schemas() -> dict[str, Any]:
    document = json.loads((ROOT / "docs" / "asyncapi" / "orders.json").read_text())
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_every_stored_orders_event_is_made_from_its_one_declaration_in_the_contract() -> None:
    assert sorted(c.__name__ for c in STORED) == sorted(c.__name__ for c in DECLARED)
    for stored in STORED:
        declared = event_contract(stored)
        assert declared is getattr(orders_contract, stored.__name__)
        assert getattr(stored, "TOPIC", None) == declared.TOPIC
        assert data_fields(stored) == list(declared.model_fields)  # the aggregate adds no field of its own


@pytest.mark.parametrize("declared", DECLARED, ids=lambda cls: cls.__name__)
def test_every_orders_event_s_fields_equal_its_contract_schema_s_properties(declared: Any) -> None:
    schema = published_schemas()[f"{declared.__name__}Data"]
    assert set(schema["properties"]) == set(declared.model_fields)
    required = [name for name, field in declared.model_fields.items() if field.is_required()]
    assert schema.get("required", []) == required
