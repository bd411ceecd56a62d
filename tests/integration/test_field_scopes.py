"""Scopes in the field service (issue #23, DOMAIN.md "Actors and roles" rev 2) on PostgreSQL + NATS: every
approval and review of S1–S4 by a user holding the right role in the wrong region is refused with
``forbidden`` (rule ``scope``) and stores nothing; a salesperson acts on and reads only their own
customers, claims and reports; company-wide roles act everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.settings import Settings
from tests.builders import FINANCE, SUPERVISOR, prospect
from tests.conftest import Requester, wait_for
from tests.integration.field_kit import field_running
from tests.integration.scopes_kit import refused_for_scope, send_as

pytestmark = pytest.mark.integration

T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)
YEAR = 2027


@pytest.fixture(scope="module")
async def field(settings: Settings) -> AsyncIterator[FixedClock]:
    clock = FixedClock(T0)
    async with field_running(settings, clock):
        yield clock


@dataclass
class Scoped:
    """Commands and queries to field, each sent by the user its actor names holding exactly ``claim``
    (``role`` or ``role@REGION``)."""

    nc: NATS
    settings: Settings

    async def send(self, claim: str, name: str, body: dict[str, Any], kind: str = "cmd") -> dict[str, Any]:
        return await send_as(self.nc, self.settings, "field", claim, name, body, kind)

    async def ok(self, claim: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.send(claim, name, body)
        assert reply["ok"], reply
        result: dict[str, Any] = reply["result"]
        return result

    async def out_of_scope(self, claim: str, name: str, body: dict[str, Any]) -> None:
        refused_for_scope(await self.send(claim, name, body))

    async def east_only(self, role: str, user: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Refused to ``role`` in WEST (user ``<user>-w``), done by ``role`` in EAST (``<user>-e``)."""
        await self.out_of_scope(f"{role}@WEST", name, {"actor": actor(f"{user}-w", role), **body})
        return await self.ok(f"{role}@EAST", name, {"actor": actor(f"{user}-e", role), **body})


@pytest.fixture
def scoped(nc: NATS, settings: Settings) -> Scoped:
    return Scoped(nc, settings)


def actor(user: str, role: str) -> dict[str, str]:
    return {"id": user, "role": role}


def twelve(month: int) -> list[str]:
    return [f"{Decimal(month):.2f}"] * 12


async def test_scope_approvals_by_the_right_role_in_the_wrong_region_are_refused(
    field: FixedClock, scoped: Scoped
) -> None:
    east_rm, west_rm = actor("rm-east", "regional_manager"), actor("rm-west", "regional_manager")
    west_gm, gm = actor("gm-west", "general_manager"), actor("gm", "general_manager")
    year = {"year": YEAR}
    # S1: the company's target is a company-wide role's; a region's plan its own manager's
    company = {"actor": actor("md", "marketing_director"), **year, "amount": "1200", "months": twelve(100)}
    await scoped.out_of_scope("marketing_director@EAST", "propose_company_target", company)
    await scoped.ok("marketing_director", "propose_company_target", company)
    await scoped.out_of_scope("general_manager@WEST", "approve_company_target", {"actor": west_gm, **year})
    await scoped.ok("general_manager", "approve_company_target", {"actor": gm, **year})
    plan = {**year, "region": "EAST", "amount": "1200", "months": twelve(100)}
    await scoped.out_of_scope("regional_manager@WEST", "propose_region_plan", {"actor": west_rm, **plan})
    await scoped.ok("regional_manager@EAST", "propose_region_plan", {"actor": east_rm, **plan})
    east = {**year, "region": "EAST"}
    await scoped.out_of_scope("general_manager@WEST", "approve_region_plan", {"actor": west_gm, **east})
    await scoped.ok(
        "general_manager@EAST",
        "approve_region_plan",
        {"actor": actor("gm-east", "general_manager"), **east},
    )
    people = {**east, "month": 3, "targets": {"sp-east": "100.00"}}
    await scoped.out_of_scope(
        "regional_manager@WEST", "propose_salesperson_targets", {"actor": west_rm, **people}
    )
    await scoped.ok("regional_manager@EAST", "propose_salesperson_targets", {"actor": east_rm, **people})
    month = {**east, "month": 3}
    await scoped.out_of_scope(
        "general_manager@WEST", "approve_salesperson_targets", {"actor": west_gm, **month}
    )
    await scoped.ok("general_manager", "approve_salesperson_targets", {"actor": gm, **month})

    # S3: the budget's chain, then a claim's, each step by the right role of the wrong region refused
    budget = {**year, "region": "EAST"}
    await scoped.out_of_scope(
        "regional_manager@WEST",
        "draft_expense_budget",
        {"actor": west_rm, **budget, "amount": "100"},
    )
    await scoped.ok(
        "regional_manager@EAST",
        "draft_expense_budget",
        {"actor": east_rm, **budget, "amount": "100"},
    )
    await scoped.out_of_scope(
        "finance@WEST",
        "review_expense_budget",
        {"actor": actor("fin-west", "finance"), **budget},
    )
    await scoped.ok("finance", "review_expense_budget", {"actor": FINANCE, **budget})
    await scoped.out_of_scope("general_manager@WEST", "approve_expense_budget", {"actor": west_gm, **budget})
    await scoped.ok("general_manager", "approve_expense_budget", {"actor": gm, **budget})
    seller = actor("sp-east", "salesperson")
    claim_body = {
        "region": "EAST",
        "amount": "150.00",
        "category": "travel",
        "spent_on": "2027-03-09",
        "vouchers": ["V-1"],
    }
    await scoped.out_of_scope("salesperson@WEST", "submit_expense_claim", {"actor": seller, **claim_body})
    claim_id = (await scoped.ok("salesperson@EAST", "submit_expense_claim", {"actor": seller, **claim_body}))[
        "claim_id"
    ]
    claim = {"claim_id": claim_id}
    steps = (
        ("sales_supervisor", "sup-west", "sup-east", "review_expense_claim"),
        ("regional_manager", "rm-west", "rm-east", "review_expense_claim"),
        ("general_manager", "gm-west", "gm-east", "approve_claim_over_budget"),
        ("finance", "fin-west", "fin", "approve_expense_claim"),
    )
    for role, stranger, member, command in steps:
        await scoped.out_of_scope(f"{role}@WEST", command, {"actor": actor(stranger, role), **claim})
        held = f"{role}@EAST" if role != "finance" else role
        await scoped.ok(held, command, {"actor": actor(member, role), **claim})
    # the refusals stored nothing: the claim went through its chain once, each step by its own region
    status = await scoped.send("finance", "get_expense_claim", {"actor": FINANCE, **claim}, kind="query")
    steps_done = [(s["step"], s["by"]) for s in status["result"]["steps"]]
    assert status["result"]["status"] == "approved"
    assert [by for _, by in steps_done] == ["sup-east", "rm-east", "gm-east", "fin"]

    # S4: an urgent report of EAST is acknowledged by a sales manager of EAST or company-wide
    report_body = {
        "actor": seller,
        "kind": "competitor_price",
        "region": "EAST",
        "subject": "price cut",
        "content": "a competitor lowered its price by 5 %",
        "urgent": True,
    }
    report_id = (await scoped.ok("salesperson@EAST", "report_market_intelligence", report_body))["report_id"]
    ack = {"report_id": report_id}
    await scoped.out_of_scope(
        "sales_manager@WEST",
        "acknowledge_market_report",
        {"actor": actor("sm-west", "sales_manager"), **ack},
    )
    await scoped.ok(
        "sales_manager@EAST",
        "acknowledge_market_report",
        {"actor": actor("sm-east", "sales_manager"), **ack},
    )


async def test_scope_a_salesperson_works_and_reads_only_their_own_customers_claims_and_reports(
    field: FixedClock, scoped: Scoped, request_: Requester
) -> None:
    mine, other = actor("sp-own", "salesperson"), actor("sp-other", "salesperson")
    body = prospect("dealer") | {"actor": mine, "region": "EAST", "salesperson_id": "sp-own"}
    registered = await request_("customers", "cmd", "register_prospect", body)
    customer_id = registered["result"]["customer_id"]
    credit = {"actor": FINANCE, "customer_id": customer_id, "rating": "good", "credit_limit": "1000"}
    await request_("customers", "cmd", "investigate_credit", credit)
    await request_("customers", "cmd", "approve_customer", {"actor": SUPERVISOR, "customer_id": customer_id})

    visit = {
        "customer_id": customer_id,
        "visited_on": "2027-03-09",
        "kind": "visit",
        "purpose": "p",
        "outcome": "o",
    }

    async def logged() -> bool:  # once the field's view of customers knows the customer (S2 until then)
        reply = await scoped.send("salesperson@EAST", "log_visit", {"actor": mine, **visit})
        return bool(reply["ok"])

    await wait_for(logged)
    await scoped.out_of_scope("salesperson@EAST", "log_visit", {"actor": other, **visit})
    own_plan = {"actor": mine, "salesperson_id": "sp-own", "month": "2027-03", "visits": {customer_id: 1}}
    await scoped.ok("salesperson@EAST", "plan_month_visits", own_plan)
    # another salesperson may not plan visits to this customer, nor read this salesperson's month
    plan = {"actor": other, "salesperson_id": "sp-other", "month": "2027-03", "visits": {customer_id: 1}}
    await scoped.out_of_scope("salesperson@EAST", "plan_month_visits", plan)
    progress = {"actor": other, "salesperson_id": "sp-own", "month": "2027-03"}
    reply = await scoped.send("salesperson@EAST", "get_visit_progress", progress, kind="query")
    assert (reply["ok"], reply.get("error", {}).get("rule")) == (False, "scope"), reply
    # a supervisor of the region may read it; one of another region may not
    progress["actor"] = actor("sup-west", "sales_supervisor")
    reply = await scoped.send("sales_supervisor@WEST", "get_visit_progress", progress, kind="query")
    assert (reply["ok"], reply.get("error", {}).get("rule")) == (False, "scope"), reply
    progress["actor"] = actor("sup-east", "sales_supervisor")
    reply = await scoped.send("sales_supervisor@EAST", "get_visit_progress", progress, kind="query")
    assert reply["ok"] and reply["result"]["planned"] == 1 and reply["result"]["actual"] == 1, reply

    # a claim and a report are read by their salesperson, not by another one
    claim_body = {
        "region": "EAST",
        "amount": "20.00",
        "category": "transport",
        "spent_on": "2027-03-09",
        "vouchers": ["T-1"],
    }
    claim_id = (await scoped.ok("salesperson@EAST", "submit_expense_claim", {"actor": mine, **claim_body}))[
        "claim_id"
    ]
    reply = await scoped.send(
        "salesperson@EAST",
        "get_expense_claim",
        {"actor": other, "claim_id": claim_id},
        kind="query",
    )
    assert (reply["ok"], reply.get("error", {}).get("rule")) == (False, "scope"), reply
    reply = await scoped.send(
        "salesperson@EAST",
        "get_expense_claim",
        {"actor": mine, "claim_id": claim_id},
        kind="query",
    )
    assert reply["ok"] and reply["result"]["status"] == "submitted", reply


async def test_scope_development_plans_rejections_and_the_month_s_reports_stay_in_their_region(
    field: FixedClock, scoped: Scoped
) -> None:
    seller, stranger = actor("sp-dev", "salesperson"), actor("sp-far", "salesperson")
    opening = {"prospect_name": "宁波新客户", "region": "EAST", "goal": "first order", "planned_visits": 2}
    await scoped.out_of_scope("salesperson@WEST", "open_development_plan", {"actor": seller, **opening})
    plan_id = (await scoped.ok("salesperson@EAST", "open_development_plan", {"actor": seller, **opening}))[
        "development_plan_id"
    ]
    closing = {"development_plan_id": plan_id, "outcome": "given up"}
    closed = await scoped.east_only("sales_supervisor", "sup", "close_development_plan", closing)
    assert closed["closed"] is True

    claim_body = {
        "region": "EAST",
        "amount": "30.00",
        "category": "other",
        "spent_on": "2027-03-09",
        "vouchers": ["O-1"],
    }
    claim_id = (await scoped.ok("salesperson@EAST", "submit_expense_claim", {"actor": seller, **claim_body}))[
        "claim_id"
    ]
    rejection = {"claim_id": claim_id, "reason": "no receipt"}
    rejected = await scoped.east_only("sales_supervisor", "sup", "reject_expense_claim", rejection)
    assert rejected["status"] == "rejected"

    # the month's market reports: a salesperson sees their own; a regional manager their region's
    report = {"kind": "market_change", "subject": "new rival", "content": "a rival opened a shop"}
    await scoped.ok(
        "salesperson@EAST",
        "report_market_intelligence",
        {"actor": seller, "region": "EAST", **report},
    )
    await scoped.ok(
        "salesperson@WEST",
        "report_market_intelligence",
        {"actor": stranger, "region": "WEST", **report},
    )
    month = {"month": "2027-03"}

    async def listed(claim: str, who: dict[str, str]) -> set[tuple[str, str]]:
        reply = await scoped.send(claim, "list_market_reports", {"actor": who, **month}, kind="query")
        assert reply["ok"], reply
        return {(r["region"], r["reported_by"]) for r in reply["result"]["reports"]}

    assert ("WEST", "sp-far") not in await listed("salesperson@EAST", seller)
    assert ("EAST", "sp-dev") in await listed("salesperson@EAST", seller)
    west = await listed("regional_manager@WEST", actor("rm-w", "regional_manager"))
    assert ("WEST", "sp-far") in west and all(region == "WEST" for region, _ in west)
