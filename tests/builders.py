"""The test kit: the people who act in the tests, and the bodies and events they send, in one place.

Actors are the JSON form a command carries (``{"id", "role"}``); ``typed`` gives the domain's ``Actor``
for the unit tests of the aggregates. Bodies are built whole and take overrides, so a test says only
what matters to its rule."""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from services.customers.commands import RegisterProspect
from shared import orders_contract
from shared.contracts import Actor, Envelope, Role
from shared.customer_contract import EVENTS
from shared.events import EventContract

Who = dict[str, str]


def actor(id: str, role: Role | str) -> Who:
    return {"id": id, "role": Role(role).value}


def typed(who: Who) -> Actor:
    """The domain's ``Actor`` for a JSON actor (unit tests call the aggregates directly)."""
    return Actor(id=who["id"], role=Role(who["role"]))


SALES = actor("sp-1", Role.SALESPERSON)
OTHER_SALES = actor("sp-2", Role.SALESPERSON)
CLERK = actor("cs-1", Role.SALESPERSON)  # customer service records complaints
SUPERVISOR = actor("sup-1", Role.SALES_SUPERVISOR)
SALES_MANAGER = actor("sm-1", Role.SALES_MANAGER)
OTHER_MANAGER = actor("sm-2", Role.SALES_MANAGER)
REGIONAL = actor("rm-1", Role.REGIONAL_MANAGER)
MARKETING = actor("md-1", Role.MARKETING_DIRECTOR)
VP = actor("vp-1", Role.SALES_VP)
GM = actor("gm-1", Role.GENERAL_MANAGER)
FINANCE = actor("fin-1", Role.FINANCE)
PRODUCTION = actor("prod-1", Role.PRODUCTION)
BRANCH_MANAGER = actor("bm-1", Role.BRANCH_MANAGER)
SYSTEM = actor("scheduler", Role.SYSTEM)


def prospect(kind: str = "dealer", **overrides: Any) -> dict[str, Any]:
    """A ``register_prospect`` body with the whole new-customer application (C2), by ``SALES``."""
    return {
        "actor": SALES,
        "kind": kind,
        "region": "EAST",
        "salesperson_id": SALES["id"],
        "company_name": "杭州华顺贸易有限公司",
        "founding_date": "2012-05-01",
        "legal_representative": "王伟",
        "registered_capital": "5000000.00",
        "address": "杭州市西湖区文三路 1 号",
        "phone": "0571-88000000",
        "business_scale": "medium",
        "staff_count": 120,
        "annual_sales": "30000000.00",
        "main_products": ["valves"],
        "preferred_payment_terms": "30 days",
        "bank": "ICBC Hangzhou",
    } | overrides


def _neutral(hint: Any) -> Any:
    """A value of the type that says nothing: empty, zero, none, an enum's first member."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Annotated:
        return _neutral(args[0])
    if type(None) in args:
        return None
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type) and issubclass(origin, Enum):
        return next(iter(origin)).value
    neutral = {str: "", int: 0, bool: False, Decimal: "0", date: "2026-01-01", list: [], dict: {}}
    return neutral[origin]


def contract_data(declared: type[EventContract], data: dict[str, Any]) -> dict[str, Any]:
    """An event's whole data as its contract has it: ``data``, and every other field the event requires
    with a neutral value (a test names only the fields its rule reads)."""
    fields = declared.model_fields
    missing = {
        name: _neutral(f.annotation) for name, f in fields.items() if f.is_required() and name not in data
    }
    return missing | data


def customer_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return contract_data(EVENTS[event_type], data)


def kept_event(version: int, event_type: str, data: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """A customers event as a customer view keeps it (version, event type, whole data), for its ``fold``."""
    return version, event_type, customer_data(event_type, data)


def customer_event(
    customer_id: str, version: int, event_type: str, data: dict[str, Any], occurred_at: datetime
) -> Envelope:
    """A customers event as the bus carries it (the customer views and reporting take these); an event
    type the contract does not know keeps its data as given."""
    if event_type in EVENTS:
        data = customer_data(event_type, data)
    return bus_event("customers", "Customer", customer_id, version, version, event_type, data, occurred_at)


def order_event(
    order_id: str,
    event_type: str,
    data: dict[str, Any],
    occurred_at: datetime,
    version: int = 1,
    position: int = 1,
    **envelope: Any,
) -> Envelope:
    """An orders event as the bus carries it (the department feeds take these), with an id of its own;
    ``envelope``: its other fields (``actor`` ...)."""
    event_id = str(uuid.uuid4())
    data = contract_data(getattr(orders_contract, event_type), data)
    return bus_event(
        "orders",
        "Order",
        order_id,
        version,
        position,
        event_type,
        data,
        occurred_at,
        event_id=event_id,
        **envelope,
    )


def bus_event(
    service: str,
    aggregate_type: str,
    aggregate_id: str,
    version: int,
    position: int,
    event_type: str,
    data: dict[str, Any],
    occurred_at: datetime,
    **envelope: Any,
) -> Envelope:
    """An event as the bus carries it; ``envelope``: its other fields (``event_id`` ``<id>-<version>`` unless
    given, ``actor``, ``correlation_id`` ...)."""
    return Envelope(
        **{"event_id": f"{aggregate_id}-{version}"} | envelope,
        event_type=event_type,
        schema_version=1,
        service=service,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        position=position,
        occurred_at=occurred_at,
        data=data,
    )


def registration(kind: str = "dealer", **overrides: Any) -> RegisterProspect:
    """The ``register_prospect`` command itself, for the unit tests that call the application."""
    return RegisterProspect.model_validate(prospect(kind, **overrides))


def picked(record: Mapping[str, Any], *keys: str) -> tuple[Any, ...]:
    """The values of these keys, in this order: one assertion on several fields of a reply."""
    return tuple(record[key] for key in keys)


def is_json_object(raw: bytes) -> bool:
    """Whether a malformed-body generator's bytes happen to decode to a JSON object."""
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False
