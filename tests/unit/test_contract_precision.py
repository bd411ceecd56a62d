"""The published AsyncAPI documents are precise enough to build a client from: only JSON Schema keywords,
money as a pattern-checked decimal string (the same values the services accept), error codes as an enum
that every refusal uses, and replies on the request's reply inbox."""

from __future__ import annotations

import importlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.contract_docs import REPLY_CHANNEL
from shared.contracts import MONEY_PATTERN, POSITIVE_MONEY_PATTERN, ErrorCode, Money, PositiveMoney
from shared.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["customers", "orders", "complaints", "reporting"]

# JSON Schema (draft 7, which AsyncAPI 3.0's schema object follows) and the annotations AsyncAPI adds.
KEYWORDS = {
    "$ref", "$id", "$schema", "$comment", "title", "description", "default", "examples", "readOnly",
    "writeOnly", "type", "enum", "const", "format", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "items", "additionalItems", "maxItems",
    "minItems", "uniqueItems", "contains", "maxProperties", "minProperties", "required", "properties",
    "patternProperties", "additionalProperties", "dependencies", "propertyNames", "if", "then", "else",
    "allOf", "anyOf", "oneOf", "not", "definitions", "$defs", "discriminator", "externalDocs", "deprecated",
}  # fmt: skip
SCHEMA_MAPS = {"properties", "patternProperties", "definitions", "$defs"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
SCHEMA_VALUES = {"items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains"}


def document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text())
    return loaded


def schema_nodes(schema: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every schema inside ``schema`` (itself included), with where it is."""
    if not isinstance(schema, dict):
        return []
    found = [(path, schema)]
    for key, value in schema.items():
        if key in SCHEMA_MAPS:
            for name, sub in value.items():
                found += schema_nodes(sub, f"{path}/{key}/{name}")
        elif key in SCHEMA_LISTS:
            for n, sub in enumerate(value):
                found += schema_nodes(sub, f"{path}/{key}/{n}")
        elif key in SCHEMA_VALUES:
            found += schema_nodes(value, f"{path}/{key}")
    return found


def all_schemas(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for name, schema in doc["components"]["schemas"].items():
        found += schema_nodes(schema, f"#/components/schemas/{name}")
    for name, message in doc["components"]["messages"].items():
        found += schema_nodes(message.get("payload"), f"#/components/messages/{name}/payload")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_schema_uses_only_json_schema_keywords(service: str) -> None:
    unknown = [
        f"{path}: {key}"
        for path, schema in all_schemas(document(service))
        for key in schema
        if key not in KEYWORDS and not key.startswith("x-")
    ]
    assert unknown == []


@pytest.mark.parametrize("service", SERVICES)
def test_no_field_is_a_json_number_money_and_decimals_are_strings(service: str) -> None:
    numbers = [path for path, schema in all_schemas(document(service)) if schema.get("type") == "number"]
    assert numbers == []


def test_orders_prices_are_positive_money_patterns() -> None:
    line = document("orders")["components"]["schemas"]["OrderLine"]["properties"]["unit_price"]
    assert {"type": "string", "pattern": POSITIVE_MONEY_PATTERN}.items() <= line["anyOf"][0].items()


@pytest.mark.parametrize(
    "text",
    ["0", "0.5", "1200", "1200.00", "99999999999999.99", "-5.00", "1e3", "100000000000000", "1.234", " 1"],
)
def test_the_published_money_patterns_accept_exactly_what_the_models_accept(text: str) -> None:
    for model, pattern in ((Money, MONEY_PATTERN), (PositiveMoney, POSITIVE_MONEY_PATTERN)):
        try:
            TypeAdapter(model).validate_python(text)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(re.match(pattern, text)) == accepted, (text, pattern)


def test_money_of_26_digits_is_refused_by_the_model_and_the_pattern() -> None:
    text = "1" * 24 + ".00"
    with pytest.raises(ValidationError):
        TypeAdapter(Money).validate_python(Decimal(text))
    assert not re.match(MONEY_PATTERN, text)


@pytest.mark.parametrize("service", SERVICES)
def test_error_codes_are_an_enum_and_the_error_body_describes_rule_and_details(service: str) -> None:
    schemas = document(service)["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    body = schemas["ErrorBody"]["properties"]
    assert body["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert {"type": "null"} in body["rule"]["anyOf"] and body["rule"]["description"]
    field_problem = body["details"]["properties"]["errors"]["anyOf"][0]["items"]
    assert field_problem["required"] == ["field", "message", "type"]


def test_every_refusal_of_the_code_uses_a_published_error_code() -> None:
    for service in SERVICES:  # load every service's errors
        importlib.import_module(f"services.{service}.main")
    refusals: list[type[DomainError]] = [DomainError]
    for refusal in refusals:
        refusals += refusal.__subclasses__()
    assert {refusal.code for refusal in refusals} <= {code.value for code in ErrorCode}


@pytest.mark.parametrize("service", SERVICES)
def test_replies_go_to_the_requests_reply_inbox(service: str) -> None:
    doc = document(service)
    inbox = doc["channels"][REPLY_CHANNEL]
    assert inbox["address"] is None and "reply subject" in inbox["description"]
    operations = [op for op in doc["operations"].values() if op["action"] == "receive"]
    assert operations
    for operation in operations:
        assert operation["reply"]["channel"] == {"$ref": f"#/channels/{REPLY_CHANNEL}"}
        (message,) = operation["reply"]["messages"]
        assert message["$ref"].startswith(f"#/channels/{REPLY_CHANNEL}/messages/")
        assert "header#/reply_to" not in json.dumps(operation)
