"""Malformed bodies of the customers' C10–C13 commands over the real bus (property-based, hypothesis):
every one gets a structured ``invalid`` error naming the field, and nothing is stored. (The C2 form is
fuzzed in test_customers.py; every command of every service in tests/fault/test_fuzz.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from services.customers.application import CustomersApplication
from services.customers.domain import Rating, SecurityKind, TerminationReason
from shared.contracts import Role
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import SALES_MANAGER, SUPERVISOR
from tests.conftest import auth
from tests.malformed import Case, bad_money, over_the_bus, refused_as_invalid, spoilt

pytestmark = pytest.mark.integration

CUSTOMER = "00000000-0000-0000-0000-000000000000"  # well-formed bodies would only find no such customer
TERMS = {
    "payment_terms_days": 30,
    "delivery_terms": "FOB",
    "product_scope": ["P-1"],
    "annual_volume": "1000.00",
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "edit_customer_file": {
        "actor": SUPERVISOR,
        "customer_id": CUSTOMER,
        "reason": "moved",
        "phone": "0571-1",
    },
    "reassign_customer": {
        "actor": SUPERVISOR,
        "customer_id": CUSTOMER,
        "salesperson_id": "sp-2",
        "reason": "x",
    },
    "reassign_salesperson_customers": {
        "actor": SUPERVISOR,
        "from_salesperson_id": "sp-1",
        "to_salesperson_id": "sp-2",
        "reason": "left",
    },
    "move_customer_region": {"actor": SUPERVISOR, "customer_id": CUSTOMER, "region": "WEST", "reason": "x"},
    "revise_credit": {"actor": SUPERVISOR, "customer_id": CUSTOMER, "rating": "fair", "credit_limit": "10"},
    "record_security": {
        "actor": SALES_MANAGER,
        "customer_id": CUSTOMER,
        "security_kind": "mortgage",
        "value": "1000",
        "holder": "bank",
        "expires_on": "2027-01-01",
    },
    "propose_contract_change": {"actor": SUPERVISOR, "customer_id": CUSTOMER, "terms": TERMS, "reason": "x"},
    "review_contract_change": {"actor": SUPERVISOR, "customer_id": CUSTOMER, "approve": True},
    "request_contract_termination": {"actor": SUPERVISOR, "customer_id": CUSTOMER, "reason": "mutual"},
    "write_key_account_plan": {
        "actor": SALES_MANAGER,
        "customer_id": CUSTOMER,
        "year": 2027,
        "sales_target": "100",
        "why_key": "volume",
        "actions": ["visit"],
    },
    "advise_key_account_plan": {"actor": SALES_MANAGER, "customer_id": CUSTOMER, "advice": "x"},
}
REQUIRED = {name: [field for field in body if field not in ("phone",)] for name, body in TEMPLATES.items()}

ENUM_VALUES = {v.value for enum in (Rating, SecurityKind, TerminationReason, Role) for v in enum}
bad_enum = st.text(max_size=12).filter(lambda s: s not in ENUM_VALUES)
bad_terms = st.sampled_from(
    [
        TERMS | {"payment_terms_days": 0},
        TERMS | {"payment_terms_days": "30"},
        TERMS | {"product_scope": []},
        TERMS | {"annual_volume": "-5"},
        TERMS | {"incoterms": "FOB"},
        {"delivery_terms": "FOB"},
    ]
)

# Values a field's type accepts but its rule does not.
BAD_VALUES: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {
    "edit_customer_file": [
        ("phone", st.just("1")),
        ("contact_persons", st.just([{"title": "buyer"}])),
        ("reason", st.just("")),
    ],
    "reassign_customer": [("salesperson_id", st.just(""))],
    "reassign_salesperson_customers": [("to_salesperson_id", st.just(""))],
    "move_customer_region": [("region", st.sampled_from(["west", "W", "WEST-1"]))],
    "revise_credit": [("rating", bad_enum), ("credit_limit", bad_money)],
    "record_security": [
        ("security_kind", bad_enum),
        ("value", bad_money),
        ("expires_on", st.sampled_from(["2027-02-30", "soon"])),
    ],
    "propose_contract_change": [("terms", bad_terms)],
    "review_contract_change": [("approve", st.sampled_from(["yes", 1, "true"]))],
    "request_contract_termination": [("reason", bad_enum)],
    "write_key_account_plan": [("year", st.sampled_from([1999, "2027"])), ("actions", st.just([]))],
    "advise_key_account_plan": [("advice", st.just(""))],
}


@st.composite
def malformed(draw: st.DrawFn) -> Case:
    """(command, raw body, the field the error must name or None)."""
    name = draw(st.sampled_from(sorted(TEMPLATES)))
    raw, field = spoilt(
        draw,
        TEMPLATES[name],
        REQUIRED[name],
        BAD_VALUES[name],
        "sales_manager",
        lists=("actions", "terms"),
    )
    return name, raw, field


@over_the_bus(malformed())
async def test_c10_c13_malformed_bodies_get_structured_errors_and_store_nothing(
    customers: WriteService, nc: NATS, settings: Settings, case: Case
) -> None:
    await refused_as_invalid(nc, settings, customers, case)


async def test_c10_edit_without_any_field_of_the_file_is_refused_and_stores_nothing(
    customers: WriteService, nc: NATS, settings: Settings
) -> None:
    app: CustomersApplication = customers.app  # type: ignore[assignment]
    before = app.recorder.max_notification_id() or 0
    body = {"actor": SUPERVISOR, "customer_id": CUSTOMER, "reason": "nothing"}
    raw = await nc.request(
        f"{settings.namespace}.customers.cmd.edit_customer_file",
        json.dumps(body).encode(),
        headers=auth(body),
    )
    error = json.loads(raw.data)["error"]
    assert (error["rule"], error["details"]["field"]) == ("C10", "address")
    assert (app.recorder.max_notification_id() or 0) == before
