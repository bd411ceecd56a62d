"""Field service (S1–S4) against real PostgreSQL and NATS, through the bus contract only; its customer
view is fed by the customers service running beside it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client as NATS

from services.field.customer_view import CustomerViewProjector, PostgresCustomerDirectory
from shared.clock import FixedClock
from shared.contracts import Envelope
from shared.settings import Settings
from shared.subjects import events_wildcard
from tests.builders import (
    FINANCE,
    GM,
    MARKETING,
    OTHER_SALES,
    REGIONAL,
    SALES,
    SALES_MANAGER,
    SUPERVISOR,
    customer_event,
    prospect,
)
from tests.conftest import Requester, succeeded, wait_for
from tests.integration.field_kit import field_running

pytestmark = pytest.mark.integration

T0 = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)  # January: the first month of a quarter (D customers too)
PROSPECTOR = {"id": "sp-3", "role": "salesperson"}  # a month of visits of its own


@pytest.fixture(scope="module")
async def services(settings: Settings) -> AsyncIterator[FixedClock]:
    clock = FixedClock(T0)
    async with field_running(settings, clock):
        yield clock


async def ok(request_: Requester, name: str, body: dict[str, Any], kind: str = "cmd") -> dict[str, Any]:
    return await succeeded(request_, "field", kind, name, body)


async def refused(request_: Requester, name: str, body: dict[str, Any], rule: str) -> dict[str, Any]:
    reply = await request_("field", "cmd", name, body)
    assert not reply["ok"], reply
    assert reply["error"]["rule"] == rule, reply
    return reply["error"]


async def stream_events(nc: NATS, settings: Settings) -> list[dict[str, Any]]:
    """Every envelope now on the field stream, read with an ephemeral ordered consumer."""
    sub = await nc.jetstream().subscribe(events_wildcard(settings.namespace, "field"), ordered_consumer=True)
    found: list[dict[str, Any]] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            found.append(json.loads(msg.data))
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


async def published(
    nc: NATS, settings: Settings, event_type: str, count: int, **data: Any
) -> list[dict[str, Any]]:
    """Wait until ``count`` events of ``event_type`` whose data holds ``data`` are on the stream."""
    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal found
        found = [
            e
            for e in await stream_events(nc, settings)
            if e["event_type"] == event_type and data.items() <= e["data"].items()
        ]
        return len(found) >= count

    await wait_for(arrived)
    return found


def months(total: str) -> list[str]:
    """Twelve equal months of ``total`` (a multiple of 12 yuan)."""
    return [f"{Decimal(total) / 12:.2f}"] * 12


async def company_target(request_: Requester, year: int, amount: str) -> dict[str, int]:
    """The company's target for the year (S1), proposed and approved; the year, as the bodies carry it."""
    body = {"year": year}
    await ok(
        request_,
        "propose_company_target",
        {"actor": MARKETING, **body, "amount": amount, "months": months(amount)},
    )
    await ok(request_, "approve_company_target", {"actor": GM, **body})
    return body


# S1 -------------------------------------------------------------------------------------------------
async def test_s1_region_targets_that_do_not_add_up_are_refused(
    services: FixedClock, request_: Requester, nc: NATS, settings: Settings
) -> None:
    year = await company_target(request_, 2027, "1200000")
    east = {"actor": REGIONAL, **year, "region": "EAST", "amount": "720000", "months": months("720000")}
    await ok(request_, "propose_region_plan", east | {"channels": ["dealers"], "key_customers": ["c-9"]})
    west = {"actor": REGIONAL, **year, "region": "WEST", "amount": "360000", "months": months("360000")}
    await ok(request_, "propose_region_plan", west)

    error = await refused(request_, "approve_region_plan", {"actor": GM, **year, "region": "EAST"}, "S1")
    assert error["details"]["sum"] == "1080000.00" and error["details"]["company_target"] == "1200000.00"
    targets = await ok(request_, "get_targets", year, kind="query")
    assert targets["regions"] == {} and targets["pending"] == ["region:EAST", "region:WEST"]

    # WEST corrects its figure: now the regions add up and both are approved
    await ok(request_, "propose_region_plan", west | {"amount": "480000", "months": months("480000")})
    await ok(request_, "approve_region_plan", {"actor": GM, **year, "region": "EAST"})
    targets = await ok(request_, "approve_region_plan", {"actor": GM, **year, "region": "WEST"})
    assert targets["regions"]["EAST"]["quarters"] == ["180000.00"] * 4
    assert targets["regions"]["EAST"]["key_customers"] == ["c-9"]
    assert targets["company"]["amount"] == "1200000.00" and targets["pending"] == []
    west_history = [
        (h["action"], h["figures"]["amount"]) for h in targets["history"] if h["target"] == "region:WEST"
    ]
    assert west_history == [("proposed", "360000.00"), ("proposed", "480000.00"), ("approved", "480000.00")]

    [approved] = await published(nc, settings, "CompanyTargetApproved", 1, year=2027)
    assert approved["data"]["amount"] == "1200000.00" and len(approved["data"]["months"]) == 12
    regions = await published(nc, settings, "RegionPlanApproved", 2, year=2027)
    assert {e["data"]["region"]: e["data"]["amount"] for e in regions} == {
        "EAST": "720000.00",
        "WEST": "480000.00",
    }


async def test_s1_salesperson_targets_add_up_to_the_region_month(
    services: FixedClock, request_: Requester, nc: NATS, settings: Settings
) -> None:
    year = await company_target(request_, 2028, "120000")
    plan = {"actor": REGIONAL, **year, "region": "NORTH", "amount": "120000", "months": months("120000")}
    await ok(request_, "propose_region_plan", plan)
    await ok(request_, "approve_region_plan", {"actor": GM, **year, "region": "NORTH"})
    month = {**year, "region": "NORTH", "month": 3}
    short = {"sp-1": "6000.00", "sp-2": "3000.00"}  # the region's March is 10000.00
    error = await refused(
        request_, "propose_salesperson_targets", {"actor": REGIONAL, **month, "targets": short}, "S1"
    )
    assert error["details"]["region_month_target"] == "10000.00"
    await ok(
        request_,
        "propose_salesperson_targets",
        {"actor": REGIONAL, **month, "targets": short | {"sp-2": "4000.00"}},
    )
    targets = await ok(request_, "approve_salesperson_targets", {"actor": GM, **month})
    assert targets["salespeople"] == {"NORTH": {"3": {"sp-1": "6000.00", "sp-2": "4000.00"}}}
    [event] = await published(nc, settings, "SalespersonTargetsApproved", 1, region="NORTH")
    assert event["data"] == {
        "year": 2028,
        "region": "NORTH",
        "month": 3,
        "targets": {"sp-1": "6000.00", "sp-2": "4000.00"},
    }


async def test_s1_targets_are_proposed_by_their_owner_and_approved_by_the_general_manager(
    services: FixedClock, request_: Requester
) -> None:
    year = {"year": 2029}
    company = {**year, "amount": "12000", "months": months("12000")}
    await refused(request_, "propose_company_target", {"actor": REGIONAL, **company}, "S1")
    await ok(request_, "propose_company_target", {"actor": MARKETING, **company})
    for actor in (MARKETING, SALES_MANAGER, FINANCE):
        error = await refused(request_, "approve_company_target", {"actor": actor, **year}, "S1")
        assert error["code"] == "forbidden"
    uneven = company | {"months": ["1000.00"] * 11 + ["999.00"]}
    await refused(request_, "propose_company_target", {"actor": MARKETING, **uneven}, "S1")
    # a region is approved only once the company target is
    plan = {"actor": REGIONAL, **company, "region": "SOUTH"}
    await ok(request_, "propose_region_plan", plan)
    await refused(request_, "approve_region_plan", {"actor": GM, **year, "region": "SOUTH"}, "S1")


# S2 -------------------------------------------------------------------------------------------------
async def customer(request_: Requester, settings: Settings, grade: str, salesperson: str) -> str:
    """An approved customer of ``salesperson`` with ``grade``, once the field's customer view has it."""

    async def customers(name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await request_("customers", "cmd", name, body)
        assert reply["ok"], reply
        return reply["result"]

    customer_id = (
        await customers("register_prospect", prospect("dealer") | {"salesperson_id": salesperson})
    )["customer_id"]
    check = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "100000"}
    await customers("investigate_credit", check)
    await customers("approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})
    graded = {"actor": SALES_MANAGER, "customer_id": customer_id, "grade": grade, "reason": ""}
    await customers("grade_customer", graded)

    async def known() -> bool:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            row = await conn.fetchrow(
                "SELECT grade FROM field.customer_view WHERE customer_id = $1", customer_id
            )
        except asyncpg.UndefinedTableError:
            return False
        finally:
            await conn.close()
        return row is not None and row["grade"] == grade

    await wait_for(known)
    return customer_id


def customers_event(customer_id: str, version: int, event_type: str, data: dict[str, Any]) -> Envelope:
    return customer_event(customer_id, version, event_type, data, occurred_at=T0)


async def test_s2_the_customer_view_ends_the_same_after_redelivered_or_reordered_events(
    services: FixedClock, settings: Settings
) -> None:
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    registered = customers_event(
        customer_id, 1, "CustomerRegistered", {"region": "WEST", "salesperson_id": "sp-7"}
    )
    approved = customers_event(customer_id, 2, "CustomerApproved", {"code": "WEST-D0001"})
    graded = customers_event(customer_id, 3, "CustomerGraded", {"grade": "B", "previous": None, "reason": ""})
    projector = CustomerViewProjector(settings)
    await projector.open()
    directory = PostgresCustomerDirectory(settings)
    try:
        await projector.handle([graded])  # before its registration: nobody to plan for yet
        assert directory.get(customer_id) is None
        await projector.handle([approved, registered, graded])  # redelivered, out of order
        customer = directory.get(customer_id)
        assert customer is not None
        assert (customer.region, customer.status, customer.grade, customer.version) == (
            "WEST",
            "approved",
            "B",
            3,
        )
        assert [c.customer_id for c in directory.of_salesperson("sp-7")] == [customer_id]
    finally:
        directory.close()
        await projector.close()


def visit(customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A ``log_visit`` body (S2): ``SALES`` visited ``customer_id`` in person."""
    return {
        "actor": SALES,
        "customer_id": customer_id,
        "visited_on": "2027-01-08",
        "kind": "visit",
        "purpose": "介绍新产品 / present the new series",
        "outcome": "interested",
        "next_step": "send samples",
    } | overrides


async def test_s2_visit_plan_by_grade_and_plan_vs_actual(
    services: FixedClock, request_: Requester, settings: Settings, nc: NATS
) -> None:
    key = await customer(request_, settings, "A", "sp-1")
    potential = await customer(request_, settings, "D", "sp-1")
    others = await customer(request_, settings, "B", "sp-9")  # another salesperson's customer
    month = {"salesperson_id": "sp-1", "month": "2027-01"}

    forbidden = await refused(request_, "plan_month_visits", {"actor": OTHER_SALES, **month}, "S2")
    assert forbidden["code"] == "forbidden"  # another salesperson's month is planned by them or a supervisor
    error = await refused(request_, "plan_month_visits", {"actor": SALES, **month, "visits": {key: 2}}, "S2")
    assert error["details"]["required"] == {key: 4}
    planned = await ok(request_, "plan_month_visits", {"actor": SALES, **month, "visits": {potential: 2}})
    assert {c["customer_id"]: c["planned"] for c in planned["customers"]} == {key: 4, potential: 2}
    [plan_event] = await published(nc, settings, "VisitsPlanned", 1, salesperson_id="sp-1", month="2027-01")
    assert plan_event["data"]["planned"] == {key: 4, potential: 2}
    assert plan_event["data"]["required"] == {key: 4, potential: 1}
    assert others not in {c["customer_id"] for c in planned["customers"]}

    for kind in ("visit", "return_visit", "phone"):
        await ok(request_, "log_visit", visit(key, kind=kind))
    await ok(request_, "log_visit", visit(potential))
    progress = await ok(request_, "get_visit_progress", month, kind="query")
    assert {c["customer_id"]: (c["planned"], c["actual"]) for c in progress["customers"]} == {
        key: (4, 2),  # the phone call is logged, not counted as a visit
        potential: (2, 1),
    }
    assert (progress["planned"], progress["actual"], progress["planned_made"]) == (6, 3, 3)
    assert progress["completion_pct"] == "50.0"
    assert [v["kind"] for v in progress["visits"]] == ["visit", "return_visit", "phone", "visit"]
    logged = await published(nc, settings, "VisitLogged", 4, salesperson_id="sp-1", month="2027-01")
    assert {(e["data"]["salesperson_id"], e["data"]["month"], e["data"]["counted"]) for e in logged} >= {
        ("sp-1", "2027-01", True),
        ("sp-1", "2027-01", False),
    }


async def test_s2_a_prospect_is_visited_under_a_development_plan(
    services: FixedClock, request_: Requester
) -> None:
    unknown = await refused(
        request_, "log_visit", visit(f"no-such-{uuid.uuid4().hex[:6]}", actor=PROSPECTOR), "S2"
    )
    assert unknown["details"]["field"] == "customer_id"
    plan = await ok(
        request_,
        "open_development_plan",
        {
            "actor": PROSPECTOR,
            "prospect_name": "宁波恒达机电",
            "region": "EAST",
            "goal": "first order",
            "planned_visits": 3,
        },
    )
    prospect_visit = visit("x", actor=PROSPECTOR) | {
        "customer_id": None,
        "development_plan_id": plan["development_plan_id"],
    }
    await ok(request_, "log_visit", prospect_visit)
    await refused(request_, "log_visit", prospect_visit | {"actor": OTHER_SALES}, "S2")
    await refused(request_, "log_visit", prospect_visit | {"visited_on": "2027-02-01"}, "S2")  # not made yet
    found = await ok(
        request_, "get_development_plan", {"development_plan_id": plan["development_plan_id"]}, kind="query"
    )
    assert (found["visits"], found["planned_visits"], found["closed"]) == (1, 3, False)
    closing = {
        "development_plan_id": plan["development_plan_id"],
        "customer_id": "c-new",
        "outcome": "registered",
    }
    closed = await ok(request_, "close_development_plan", {"actor": PROSPECTOR, **closing})
    assert closed["closed"] and closed["customer_id"] == "c-new"
    await refused(request_, "log_visit", prospect_visit, "S2")


# S3 -------------------------------------------------------------------------------------------------
async def approved_budget(request_: Requester, region: str, amount: str) -> None:
    budget = {"region": region, "year": 2027}
    await ok(request_, "draft_expense_budget", {"actor": REGIONAL, **budget, "amount": amount})
    await ok(request_, "review_expense_budget", {"actor": FINANCE, **budget})
    await ok(request_, "approve_expense_budget", {"actor": GM, **budget})


async def claim(request_: Requester, region: str, amount: str) -> str:
    body = {
        "actor": SALES,
        "region": region,
        "amount": amount,
        "category": "travel",
        "spent_on": "2027-01-05",
        "vouchers": ["FP-001", "FP-002"],
        "description": "客户拜访差旅",
    }
    return str((await ok(request_, "submit_expense_claim", body))["claim_id"])


async def reviewed(request_: Requester, claim_id: str) -> None:
    for actor in (SUPERVISOR, REGIONAL):
        await ok(request_, "review_expense_claim", {"actor": actor, "claim_id": claim_id})


async def test_s3_an_out_of_order_claim_approval_is_refused(
    services: FixedClock, request_: Requester
) -> None:
    region = f"R{uuid.uuid4().hex[:6]}"
    await approved_budget(request_, region, "10000")
    claim_id = await claim(request_, region, "500")
    body = {"claim_id": claim_id}
    for actor, name in ((REGIONAL, "review_expense_claim"), (FINANCE, "approve_expense_claim")):
        error = await refused(request_, name, {"actor": actor, **body}, "S3")
        assert error["details"] == {"status": "submitted", "next": "sales_supervisor"}
    await ok(request_, "review_expense_claim", {"actor": SUPERVISOR, **body})
    await refused(request_, "approve_expense_claim", {"actor": FINANCE, **body}, "S3")
    await refused(request_, "review_expense_claim", {"actor": SUPERVISOR, **body}, "S3")
    await ok(request_, "review_expense_claim", {"actor": REGIONAL, **body})
    approved = await ok(request_, "approve_expense_claim", {"actor": FINANCE, **body})
    assert approved["status"] == "approved"
    assert [s["step"] for s in approved["steps"]] == [
        "reviewed_by_sales_supervisor",
        "reviewed_by_regional_manager",
        "approved_by_finance",
    ]
    await refused(request_, "approve_expense_claim", {"actor": FINANCE, **body}, "S3")  # once


async def test_s3_a_claim_over_budget_needs_the_general_manager(
    services: FixedClock, request_: Requester, nc: NATS, settings: Settings
) -> None:
    region = f"R{uuid.uuid4().hex[:6]}"
    await approved_budget(request_, region, "1000")
    within = await claim(request_, region, "700")
    await reviewed(request_, within)
    await ok(request_, "approve_expense_claim", {"actor": FINANCE, "claim_id": within})

    over = await claim(request_, region, "400")  # 700 + 400 > 1000
    await reviewed(request_, over)
    error = await refused(request_, "approve_expense_claim", {"actor": FINANCE, "claim_id": over}, "S3")
    assert error["details"] == {"budget": "1000.00", "spent": "700.00", "amount": "400.00"}
    await refused(request_, "approve_claim_over_budget", {"actor": REGIONAL, "claim_id": over}, "S3")
    await ok(request_, "approve_claim_over_budget", {"actor": GM, "claim_id": over})
    approved = await ok(request_, "approve_expense_claim", {"actor": FINANCE, "claim_id": over})
    assert approved["over_budget_approved_by"] == GM["id"]
    budget = await ok(request_, "get_expense_budget", {"region": region, "year": 2027}, kind="query")
    assert (budget["approved"], budget["spent"]) == ("1000.00", "1100.00")

    events = await published(nc, settings, "ExpenseClaimApproved", 2, region=region)
    mine = {e["aggregate_id"]: e["data"] for e in events if e["data"]["region"] == region}
    assert mine[over]["over_budget"] is True and mine[within]["over_budget"] is False
    assert mine[over]["amount"] == "400.00" and mine[over]["spent_on"] == "2027-01-05"


async def test_s3_budget_is_drafted_reviewed_and_approved_in_order(
    services: FixedClock, request_: Requester
) -> None:
    budget = {"region": f"R{uuid.uuid4().hex[:6]}", "year": 2027}
    await refused(request_, "draft_expense_budget", {"actor": SALES, **budget, "amount": "5000"}, "S3")
    await ok(request_, "draft_expense_budget", {"actor": REGIONAL, **budget, "amount": "5000"})
    await refused(request_, "approve_expense_budget", {"actor": GM, **budget}, "S3")  # finance reviews first
    await refused(request_, "review_expense_budget", {"actor": GM, **budget}, "S3")
    await ok(request_, "review_expense_budget", {"actor": FINANCE, **budget})
    approved = await ok(request_, "approve_expense_budget", {"actor": GM, **budget})
    assert (approved["status"], approved["approved"]) == ("approved", "5000.00")
    # no budget approved: any claim is over budget
    claim_id = await claim(request_, f"R{uuid.uuid4().hex[:6]}", "10")
    await reviewed(request_, claim_id)
    await refused(request_, "approve_expense_claim", {"actor": FINANCE, "claim_id": claim_id}, "S3")


# S4 -------------------------------------------------------------------------------------------------
def report(urgent: bool, subject: str) -> dict[str, Any]:
    return {
        "actor": SALES,
        "kind": "competitor_price",
        "region": "EAST",
        "subject": subject,
        "content": "某竞争对手 DN50 截止阀降价 8% / a competitor cut its DN50 price by 8%",
        "urgent": urgent,
    }


async def test_s4_urgent_reports_go_to_the_sales_manager_and_are_listed_by_month(
    services: FixedClock, request_: Requester
) -> None:
    urgent = await ok(request_, "report_market_intelligence", report(True, "price cut"))
    plain = await ok(request_, "report_market_intelligence", report(False, "new catalogue"))
    assert urgent["acknowledge_by"] == "2027-01-13T02:00:00Z" and plain["acknowledge_by"] is None
    await refused(
        request_, "acknowledge_market_report", {"actor": SUPERVISOR, "report_id": urgent["report_id"]}, "S4"
    )
    acked = await ok(
        request_, "acknowledge_market_report", {"actor": SALES_MANAGER, "report_id": urgent["report_id"]}
    )
    assert acked["acknowledged_by"] == SALES_MANAGER["id"]
    listed = await ok(request_, "list_market_reports", {"month": "2027-01"}, kind="query")
    ids = [r["report_id"] for r in listed["reports"]]
    assert urgent["report_id"] in ids and plain["report_id"] in ids
    assert (await ok(request_, "list_market_reports", {"month": "2026-12"}, kind="query"))["reports"] == []
    await refused(request_, "report_market_intelligence", report(True, "x") | {"actor": FINANCE}, "S4")
