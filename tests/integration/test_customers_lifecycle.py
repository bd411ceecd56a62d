"""A customer's later life (C8 and C10–C13) against real PostgreSQL and NATS, through the bus contract:
what the commands store reaches the stream with the fields the other services read."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from deploy.local.demo import Client, Demo, keep_file
from shared.contracts import Envelope
from shared.settings import Settings
from shared.subjects import event_subject, stream_name
from tests.builders import FINANCE, GM, REGIONAL, SALES_MANAGER, SUPERVISOR, customer_event, prospect
from tests.conftest import Requester, succeeded, wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 2026-11-20 in Asia/Shanghai
TERMS = {
    "payment_terms_days": 45,
    "delivery_terms": "FOB",
    "product_scope": ["VALVE-DN50"],
    "annual_volume": "800000.00",
}


async def ok(request_: Requester, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return await succeeded(request_, "customers", "cmd", name, body)


async def query(request_: Requester, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return await succeeded(request_, "customers", "query", name, body)


async def approved(request_: Requester, salesperson_id: str = "sp-1", kind: str = "dealer") -> str:
    registered = await ok(request_, "register_prospect", prospect(salesperson_id=salesperson_id, kind=kind))
    customer_id = str(registered["customer_id"])
    credit = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "100000"}
    await ok(request_, "investigate_credit", credit)
    await ok(request_, "approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})
    return customer_id


async def last_event(nc: NATS, settings: Settings, event_type: str, customer_id: str) -> dict[str, Any]:
    """The customer's latest event of this type as it travels on the stream (the relay publishes it)."""
    js = nc.jetstream()
    found: dict[str, Any] = {}

    async def published() -> bool:
        try:
            message = await js.get_last_msg(
                stream_name(settings.namespace, "customers"),
                event_subject(settings.namespace, "customers", event_type),
            )
        except Exception:  # not published yet
            return False
        envelope = json.loads(message.data or b"{}")
        found.update(envelope)
        return bool(envelope["aggregate_id"] == customer_id)

    await wait_for(published)
    return found


async def test_c10_all_200_customers_of_a_leaving_salesperson_reassigned_in_one_command(
    customers: Any, request_: Requester
) -> None:
    leaving, taking_over = f"sp-leaving-{uuid.uuid4().hex[:6]}", f"sp-new-{uuid.uuid4().hex[:6]}"
    ids: list[str] = []
    for _ in range(10):  # 20 registrations in flight at a time
        replies = await asyncio.gather(
            *(ok(request_, "register_prospect", prospect(salesperson_id=leaving)) for _ in range(20))
        )
        ids += [reply["customer_id"] for reply in replies]
    before = customers.app.recorder.max_notification_id()
    body = {
        "actor": SUPERVISOR,
        "from_salesperson_id": leaving,
        "to_salesperson_id": taking_over,
        "reason": "left the company",
    }
    refused = await request_(
        "customers",
        "cmd",
        "reassign_salesperson_customers",
        body | {"actor": {"id": leaving, "role": "salesperson"}},
    )
    assert (refused["ok"], refused["error"]["rule"]) == (False, "C10")
    assert customers.app.recorder.max_notification_id() == before
    result = await ok(request_, "reassign_salesperson_customers", body)
    assert result["count"] == 200 and sorted(result["customer_ids"]) == sorted(ids)
    stored = customers.app.recorder.select_notifications(start=before + 1, limit=1000)
    reassigned = [n for n in stored if n.topic == "customers.Customer.SalespersonReassigned"]
    assert sorted(str(n.originator_id) for n in reassigned) == sorted(ids)  # each customer its own event

    async def listed_under_new_salesperson() -> bool:
        listing = await query(request_, "list_customers", {"salesperson_id": taking_over, "limit": 1000})
        return int(listing["count"]) == 200

    await wait_for(listed_under_new_salesperson)  # the directory follows the events on the bus


async def test_c10_edit_reassignment_and_region_move_reach_the_bus_with_previous_values(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    customer_id = await approved(request_)
    code = (await query(request_, "get_customer", {"customer_id": customer_id}))["code"]
    edit = {
        "actor": {"id": "sp-1", "role": "salesperson"},
        "customer_id": customer_id,
        "reason": "new office",
    }
    await ok(request_, "edit_customer_file", edit | {"address": "2 River Road", "business_scale": "large"})
    await ok(
        request_,
        "reassign_customer",
        {"actor": SUPERVISOR, "customer_id": customer_id, "salesperson_id": "sp-2", "reason": "territory"},
    )
    moved = await ok(
        request_,
        "move_customer_region",
        {"actor": REGIONAL, "customer_id": customer_id, "region": "WEST", "reason": "moved"},
    )
    assert (moved["region"], moved["code"], moved["salesperson_id"]) == ("WEST", code, "sp-2")

    reassigned = await last_event(nc, settings, "SalespersonReassigned", customer_id)
    assert (reassigned["data"]["salesperson_id"], reassigned["data"]["previous"]) == ("sp-2", "sp-1")
    region = await last_event(nc, settings, "CustomerRegionMoved", customer_id)
    assert (region["data"]["region"], region["data"]["previous"]) == ("WEST", "EAST")
    edited = await last_event(nc, settings, "CustomerFileEdited", customer_id)
    assert edited["data"]["changes"]["business_scale"] == "large"
    assert edited["data"]["changes"]["address"].startswith("enc:v1:")  # personal data stays sealed on the bus
    assert edited["data"]["reason"] == "new office"

    history = await query(request_, "customer_file_history", {"customer_id": customer_id})
    edit_, reassignment, move = history["changes"]
    assert (edit_["previous"]["address"], edit_["changes"]["address"]) == (
        "杭州市西湖区文三路 1 号",
        "2 River Road",
    )
    assert (reassignment["previous"], reassignment["changes"], reassignment["reason"]) == (
        {"salesperson_id": "sp-1"},
        {"salesperson_id": "sp-2"},
        "territory",
    )
    assert (move["previous"], move["changes"], move["by"]) == ({"region": "EAST"}, {"region": "WEST"}, "rm-1")


async def test_c8_prepayment_event_carries_the_tier_and_the_year_orders_price_it_in(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    customer_id = await approved(request_)
    body = {"actor": FINANCE, "customer_id": customer_id, "year": 2026, "amount": "200000.00"}
    await ok(request_, "record_prepayment", body)
    envelope = await last_event(nc, settings, "PrepaymentRecorded", customer_id)
    data = envelope["data"]
    assert (data["year"], data["discount_year"], data["discount_pct"], data["amount"]) == (
        2026,
        2027,
        str(customers.app.settings.prepayment_discount_pct),
        "200000.00",
    )


async def test_c11_poor_rating_holds_orders_and_a_raise_waits_for_the_sales_manager_on_the_bus(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    customer_id = await approved(request_)
    higher = await ok(
        request_,
        "revise_credit",
        {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "150000"},
    )
    assert (higher["credit_limit"], higher["pending_credit_limit"]) == ("100000.00", "150000.00")
    await ok(request_, "approve_credit_raise", {"actor": SALES_MANAGER, "customer_id": customer_id})
    raised = await last_event(nc, settings, "CreditRaiseApproved", customer_id)
    assert (raised["data"]["credit_limit"], raised["data"]["previous_limit"]) == ("150000.00", "100000.00")
    poor = await ok(
        request_,
        "revise_credit",
        {
            "actor": FINANCE,
            "customer_id": customer_id,
            "rating": "poor",
            "credit_limit": "0",
            "notes": "lawsuit",
        },
    )
    assert (poor["status"], poor["orders_held"], poor["credit_limit"]) == ("approved", True, "0.00")
    held = await last_event(nc, settings, "CustomerOrdersHeld", customer_id)
    assert held["data"]["rule"] == "C11"


async def test_c11_c12_securities_and_contracts_expiring_within_30_days_are_listed(
    customers: Any, request_: Requester
) -> None:
    soon, later = await approved(request_), await approved(request_)
    contract = {"actor": REGIONAL, "valid_from": "2026-01-01", "terms": TERMS}
    await ok(
        request_,
        "sign_contract",
        contract | {"customer_id": soon, "contract_number": f"HT-{soon[:6]}", "valid_to": "2026-12-10"},
    )
    await ok(
        request_,
        "sign_contract",
        contract | {"customer_id": later, "contract_number": f"HT-{later[:6]}", "valid_to": "2027-03-01"},
    )
    security = {
        "actor": SALES_MANAGER,
        "security_kind": "shop_guarantee",
        "value": "50000",
        "holder": "Shop 12",
    }
    kept = await ok(request_, "record_security", security | {"customer_id": soon, "expires_on": "2026-12-15"})
    await ok(request_, "record_security", security | {"customer_id": later, "expires_on": "2027-02-01"})
    released = await ok(
        request_, "record_security", security | {"customer_id": later, "expires_on": "2026-12-01"}
    )
    release_id = next(s["security_id"] for s in released["securities"] if s["expires_on"] == "2026-12-01")
    await ok(
        request_,
        "release_security",
        {"actor": SALES_MANAGER, "customer_id": later, "security_id": release_id, "reason": "returned"},
    )
    kept_id = kept["securities"][0]["security_id"]

    async def mine() -> list[tuple[str, str, int]]:
        listing = await query(request_, "list_expiring", {})
        return [
            (item["item"], item["item_id"], item["days_left"])
            for item in listing["items"]
            if item["customer_id"] in (soon, later)
        ]

    expected = [("contract", f"HT-{soon[:6]}", 20), ("security", kept_id, 25)]

    async def listed() -> bool:
        return await mine() == expected

    await wait_for(listed)
    wider = await query(request_, "list_expiring", {"within_days": 120})
    assert {item["item_id"] for item in wider["items"]} >= {f"HT-{later[:6]}", f"HT-{soon[:6]}", kept_id}


async def test_c12_a_contract_change_approved_out_of_order_is_refused_over_the_bus(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    customer_id = await approved(request_)
    signed = {"actor": REGIONAL, "customer_id": customer_id, "contract_number": f"HT-{customer_id[:6]}"}
    await ok(
        request_,
        "sign_contract",
        signed | {"valid_from": "2026-01-01", "valid_to": "2027-12-31", "terms": TERMS},
    )
    change = TERMS | {"payment_terms_days": 60, "product_scope": None}
    await ok(
        request_,
        "propose_contract_change",
        {
            "actor": {"id": "sp-1", "role": "salesperson"},
            "customer_id": customer_id,
            "terms": change,
            "reason": "bigger orders",
        },
    )
    before = customers.app.recorder.max_notification_id()
    review = {"customer_id": customer_id, "approve": True}
    early = await request_("customers", "cmd", "review_contract_change", review | {"actor": GM})
    assert (early["ok"], early["error"]["rule"], early["error"]["details"]["awaits"]) == (
        False,
        "C12",
        "supervisor_review",
    )
    assert customers.app.recorder.max_notification_id() == before
    for actor in (SUPERVISOR, REGIONAL, GM):
        result = await ok(request_, "review_contract_change", review | {"actor": actor})
    assert result["terms"]["payment_terms_days"] == 60
    approved_ = await last_event(nc, settings, "ContractChangeApproved", customer_id)
    assert approved_["data"]["terms"] == {
        "payment_terms_days": 60,
        "delivery_terms": "FOB",
        "product_scope": None,
        "annual_volume": "800000.00",
    }
    assert approved_["data"]["previous_terms"]["product_scope"] == ["VALVE-DN50"]
    contract = await query(request_, "get_contract", {"customer_id": customer_id})
    assert [past["terms"]["payment_terms_days"] for past in contract["history"]] == [45]


async def test_c13_key_account_plan_with_both_advisers_over_the_bus(
    customers: Any, request_: Requester
) -> None:
    customer_id = await approved(request_)
    await ok(
        request_,
        "grade_customer",
        {"actor": SALES_MANAGER, "customer_id": customer_id, "grade": "A", "reason": "top 10"},
    )
    plan = {
        "actor": SALES_MANAGER,
        "customer_id": customer_id,
        "year": 2027,
        "sales_target": "3000000",
        "why_key": "volume",
        "actions": ["monthly visit"],
    }
    await ok(request_, "write_key_account_plan", plan)
    await ok(
        request_,
        "advise_key_account_plan",
        {
            "actor": {"id": "csm-1", "role": "customer_service_manager"},
            "customer_id": customer_id,
            "advice": "hotline",
        },
    )
    result = await ok(
        request_, "advise_key_account_plan", {"actor": GM, "customer_id": customer_id, "advice": "visit"}
    )
    assert sorted(result["key_account_plan"]["advice"]) == ["customer_service_manager", "general_manager"]


async def test_c10_c12_the_demo_flow_edits_reassigns_and_changes_the_contract(
    customers: Any, request_: Requester, nc: NATS, settings: Settings
) -> None:
    demo = Demo(dealer_id=await approved(request_, salesperson_id="sp-wang"))
    contract = {
        "actor": REGIONAL,
        "customer_id": demo.dealer_id,
        "contract_number": f"HT-{demo.dealer_id[:6]}",
    }
    await ok(request_, "sign_contract", contract | {"valid_from": "2026-01-01", "valid_to": "2027-12-31"})
    await keep_file(Client(nc, settings.namespace), demo)
    details = await query(request_, "get_customer", {"customer_id": demo.dealer_id})
    assert (details["address"], details["salesperson_id"]) == ("杭州市滨江区江南大道 88 号", "sp-liu")
    assert details["terms"]["payment_terms_days"] == 45
    assert "reassigned to sp-liu" in demo.notes[-1]


def envelope(customer_id: str, version: int, event_type: str, data: dict[str, Any]) -> Envelope:
    return customer_event(customer_id, version, event_type, data, occurred_at=NOW)


async def test_c10_the_directory_keeps_the_latest_salesperson_and_region_whatever_the_delivery_order(
    customers: Any, request_: Requester
) -> None:
    customer_id = str(uuid.uuid4())
    registered = {"kind": "dealer", "region": "EAST", "salesperson_id": "sp-old", "company_name": "Late Co"}
    directory = customers.app.directory
    await directory.apply(
        [
            envelope(
                customer_id, 5, "SalespersonReassigned", {"salesperson_id": "sp-newest", "previous": "sp-mid"}
            ),
            envelope(
                customer_id, 3, "SalespersonReassigned", {"salesperson_id": "sp-mid", "previous": "sp-old"}
            ),
            envelope(customer_id, 4, "CustomerRegionMoved", {"region": "NORTH", "previous": "EAST"}),
            envelope(customer_id, 1, "CustomerRegistered", registered),  # redelivered last
        ]
    )
    listing = await query(request_, "list_customers", {"salesperson_id": "sp-newest"})
    assert [(c["customer_id"], c["region"]) for c in listing["customers"]] == [(customer_id, "NORTH")]
