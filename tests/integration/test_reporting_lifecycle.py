"""The customer lifecycle, feedback and after-sales service in reporting, against real PostgreSQL and NATS:
sales at the time of each sale after a reassignment and a region move (C10, R5, R7), securities and
contracts expiring and orders held on the alerts list (C11, C12, R12), key-account plans beside R4 (C13),
feedback and after-sales counts per region and staff (P8, P9).

One reporting service for the module, its clock fixed at 2033-03-10 12:00 Asia/Shanghai (period 2033-03);
each test has customers, regions and staff of its own.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from deploy.bench.seed import SUPERVISOR
from services.reporting.main import ReportingService
from shared.clock import BUSINESS_TZ
from shared.contracts import Actor, Role
from shared.settings import Settings
from tests.builders import picked
from tests.conftest import Requester
from tests.integration.reporting_kit import MANAGER, Events, at, consumed, reporting_at, rows

pytestmark = pytest.mark.integration

NOW = datetime(2033, 3, 10, 12, tzinfo=BUSINESS_TZ)
TODAY = NOW.date()
GENERAL_MANAGER = Actor(id="gm-1", role=Role.GENERAL_MANAGER)
SERVICE_MANAGER = Actor(id="csm-1", role=Role.CUSTOMER_SERVICE_MANAGER)


service = reporting_at(NOW)


def customer_event(ev: Events, cid: str, event_type: str, actor: Actor = MANAGER, **data: Any) -> None:
    ev.make("customers", "Customer", cid, event_type, NOW - timedelta(days=1), data, actor)


async def alerts_of(request_: Requester, *customers: str) -> list[tuple[Any, ...]]:
    reply = await request_("reporting", "query", "alerts", {})
    assert reply["ok"], reply
    return sorted(
        (a["customer_id"], a["alert"], a["rule"], a.get("expires_on"), a.get("days_left"))
        for a in reply["result"]["alerts"]
        if a.get("customer_id") in customers
    )


# ---------------------------------------------------------------- C10: at the time of each sale (R5, R7)


async def test_c10_r5_r7_a_sale_before_and_after_a_reassignment_and_a_move_counts_where_it_was_made(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2032, 1, 2), region="C10-OLD", salesperson="sp-c10a", code="C10-D0001")
    # February: one sale in the old region by the first salesperson, one to be cancelled, one returned.
    ev.order(dealer, at(2032, 2, 3), [("P-1", 10, "100.00")], region="C10-OLD", salesperson="sp-c10a")
    cancelled = ev.order(
        dealer, at(2032, 2, 4), [("P-2", 2, "50.00")], region="C10-OLD", salesperson="sp-c10a"
    )
    returned = ev.order(
        dealer, at(2032, 2, 5), [("P-1", 5, "100.00")], region="C10-OLD", salesperson="sp-c10a"
    )
    # March 1st: reassigned to another salesperson and moved to another region (orders' customer view
    # follows: the next OrderPlaced names the new ones).
    customer_event(
        ev,
        dealer,
        "SalespersonReassigned",
        SUPERVISOR,
        salesperson_id="sp-c10b",
        previous="sp-c10a",
        reason="left",
    )
    ev.make(
        "customers",
        "Customer",
        dealer,
        "CustomerRegionMoved",
        at(2032, 3, 1),
        {"region": "C10-NEW", "previous": "C10-OLD", "reason": "relocated"},
        Actor(id="rm-new", role=Role.REGIONAL_MANAGER),
    )
    ev.order(dealer, at(2032, 3, 3), [("P-1", 4, "100.00")], region="C10-NEW", salesperson="sp-c10b")
    # The February orders cancelled and returned in March leave the old region and the first salesperson.
    ev.order_event(
        cancelled, dealer, at(2032, 3, 4), "OrderCancelled", reason="withdrawn", status="cancelled"
    )
    ev.shipped(returned, dealer, at(2032, 3, 5), "500.00", status="shipped")
    ev.credit_note(returned, dealer, at(2032, 3, 6), [("P-1", 2, "100.00")])
    await consumed(nc, settings, service, ev)

    feb = rows(await request_("reporting", "query", "regions", {"period": "2032-02"}), "region")
    mar = rows(await request_("reporting", "query", "regions", {"period": "2032-03"}), "region")
    staff_feb = rows(await request_("reporting", "query", "staff", {"period": "2032-02"}), "staff_id")
    staff_mar = rows(await request_("reporting", "query", "staff", {"period": "2032-03"}), "staff_id")

    assert picked(feb["C10-OLD"], "sales_amount", "orders") == ("1600.00", 3)
    assert feb["C10-OLD"]["customers_by_kind"] == {"dealer": 1}  # it was there at February's end
    assert "C10-NEW" not in feb
    # March: the new region has the sale made in it; the old one loses what left it (100 + 200).
    assert picked(mar["C10-NEW"], "sales_amount", "orders") == ("400.00", 1)
    assert [(p["product_code"], p["quantity"], p["amount"]) for p in mar["C10-NEW"]["products"]] == [
        ("P-1", "4", "400.00")
    ]
    assert mar["C10-NEW"]["customers_by_kind"] == {"dealer": 1}
    assert picked(mar["C10-OLD"], "sales_amount", "orders") == ("-300.00", 0)
    assert sorted((p["product_code"], p["quantity"]) for p in mar["C10-OLD"]["products"]) == [
        ("P-1", "-2"),
        ("P-2", "-2"),
    ]
    assert mar["C10-OLD"]["customers_by_kind"] == {}
    assert picked(staff_feb["sp-c10a"], "orders", "amount") == (3, "1600.00")
    assert picked(staff_mar["sp-c10b"], "orders", "amount") == (1, "400.00")
    assert picked(staff_mar["sp-c10a"], "orders", "amount") == (0, "-300.00")


# ---------------------------------------------------------------- C11, C12: alerts (R12)


async def test_c11_a_security_expiring_within_30_days_is_on_the_alerts_list_until_released(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2032, 1, 2), region="C11S", code="C11S-D0001")

    def security(security_id: str, expires_on: date) -> None:
        customer_event(
            ev,
            dealer,
            "SecurityRecorded",
            security_id=security_id,
            security_kind="mortgage",
            value="50000.00",
            holder="王伟",
            expires_on=expires_on.isoformat(),
            description="shop premises",
        )

    security("soon", TODAY + timedelta(days=20))
    security("later", TODAY + timedelta(days=31))
    security("released", TODAY + timedelta(days=5))
    customer_event(ev, dealer, "SecurityReleased", security_id="released", reason="loan repaid")
    await consumed(nc, settings, service, ev)

    reply = await request_("reporting", "query", "alerts", {})
    found = [a for a in reply["result"]["alerts"] if a.get("customer_id") == dealer]
    assert [(a["alert"], a["rule"], a["security_id"], a["days_left"], a["amount"]) for a in found] == [
        ("security_expiring", "C11", "soon", 20, "50000.00")
    ]
    assert picked(found[0], "security_kind", "holder", "code") == ("mortgage", "王伟", "C11S-D0001")


async def test_c12_a_contract_expiring_within_30_days_is_on_the_alerts_list_unless_renewed_or_ended(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    expiring, renewed, terminated, lasting = (
        ev.customer(at(2032, 1, 2), region="C12A", code=f"C12A-D000{i}") for i in range(4)
    )

    def signed(cid: str, number: str, valid_to: date) -> None:
        customer_event(
            ev,
            cid,
            "ContractSigned",
            contract_number=number,
            valid_from="2032-01-01",
            valid_to=valid_to.isoformat(),
            terms=None,
        )

    signed(expiring, "HT-1", TODAY + timedelta(days=30))
    signed(renewed, "HT-2", TODAY + timedelta(days=3))
    signed(renewed, "HT-2B", TODAY + timedelta(days=400))
    signed(terminated, "HT-3", TODAY + timedelta(days=10))
    customer_event(ev, terminated, "ContractTerminated", GENERAL_MANAGER, reason="mutual", note="agreed")
    signed(lasting, "HT-4", TODAY + timedelta(days=31))
    await consumed(nc, settings, service, ev)

    expiry = (TODAY + timedelta(days=30)).isoformat()
    assert await alerts_of(request_, expiring, renewed, terminated, lasting) == [
        (expiring, "contract_expiring", "C12", expiry, 30)
    ]


async def test_c11_a_customer_whose_orders_are_held_is_on_the_alerts_list_until_the_hold_is_lifted(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    held, lifted = (ev.customer(at(2032, 1, 2), region="C11H", code=f"C11H-D000{i}") for i in range(2))
    for cid in (held, lifted):
        customer_event(ev, cid, "CustomerOrdersHeld", reason="poor credit rating: late payer", rule="C11")
    customer_event(ev, lifted, "CustomerOrdersReleased", reason="reviewed")
    await consumed(nc, settings, service, ev)

    reply = await request_("reporting", "query", "alerts", {})
    found = [a for a in reply["result"]["alerts"] if a.get("customer_id") in (held, lifted)]
    assert [(a["customer_id"], a["alert"], a["rule"], a["reason"]) for a in found] == [
        (held, "orders_held", "C11", "poor credit rating: late payer")
    ]


# ---------------------------------------------------------------- C13: key-account plans in R4


async def test_c13_r4_key_customers_show_the_key_account_plan_with_the_advice_given_since(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    key = ev.customer(at(2032, 1, 2), region="C13", code="C13-D0001", grade="A")
    plain = ev.customer(at(2032, 1, 2), region="C13", code="C13-D0002")
    ev.order(key, at(2032, 5, 3), [("P-1", 900, "100.00")], region="C13")
    ev.order(plain, at(2032, 5, 3), [("P-1", 800, "100.00")], region="C13")
    plan: dict[str, Any] = {
        "year": 2032,
        "why_key": "largest dealer in the east",
        "actions": ["quarterly visit"],
    }
    customer_event(ev, key, "KeyAccountPlanWritten", sales_target="900000.00", **plan)
    customer_event(
        ev,
        key,
        "KeyAccountAdviceGiven",
        SERVICE_MANAGER,
        adviser_role="customer_service_manager",
        advice="faster delivery",
    )
    # A new plan replaces the old, and its advice starts afresh.
    customer_event(ev, key, "KeyAccountPlanWritten", sales_target="1200000.00", **plan)
    customer_event(
        ev, key, "KeyAccountAdviceGiven", GENERAL_MANAGER, adviser_role="general_manager", advice="approve"
    )
    await consumed(nc, settings, service, ev)

    reply = await request_("reporting", "query", "key_customers", {"period": "2032-05", "limit": 100})
    assert reply["ok"], reply
    by_sales = {e["customer_id"]: e for e in reply["result"]["by_sales"]}
    shown = by_sales[key]["key_account_plan"]
    assert picked(shown, "sales_target", "why_key", "actions") == (
        "1200000.00",
        "largest dealer in the east",
        ["quarterly visit"],
    )
    assert {role: part["advice"] for role, part in shown["advice"].items()} == {"general_manager": "approve"}
    assert shown["advice"]["general_manager"]["by"] == "gm-1"
    assert by_sales[plain]["key_account_plan"] is None


# ---------------------------------------------------------------- P8, P9: counts per region and staff


async def test_p8_p9_feedback_and_after_sales_counted_per_region_and_staff_with_the_deadlines_missed(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    east = ev.customer(at(2032, 1, 2), region="P89-EAST", code="P89-D0001")
    west = ev.customer(at(2032, 1, 2), region="P89-WEST", code="P89-D0002")
    when = at(2032, 6, 10)

    def feedback(cid: str, kind: str, assigned_to: str, major: bool = False) -> str:
        fid = str(uuid.uuid4())
        ev.make(
            "complaints",
            "Feedback",
            fid,
            "FeedbackLogged",
            when,
            {
                "kind": kind,
                "customer_id": cid,
                "content": "…",
                "major": major,
                "assigned_to": assigned_to,
                "answer_by": (when + timedelta(days=3)).isoformat(),
            },
        )
        if major:
            ev.make(
                "complaints",
                "Feedback",
                fid,
                "FeedbackEscalated",
                when,
                {
                    "escalated_to": "general_manager",
                    "acknowledge_by": when.isoformat(),
                    "kind": kind,
                    "customer_id": cid,
                },
            )
        return fid

    def request(cid: str, region: str, kind: str, technician: str | None) -> str:
        rid = str(uuid.uuid4())
        refs = {"kind": kind, "customer_id": cid, "region": region}
        ev.make(
            "complaints",
            "ServiceRequest",
            rid,
            "ServiceRequestLogged",
            when,
            {
                **refs,
                "description": "…",
                "quality_defect": False,
                "complaint_id": None,
                "schedule_by": when.isoformat(),
                "complete_by": when.isoformat(),
            },
        )
        if technician:
            ev.make(
                "complaints",
                "ServiceRequest",
                rid,
                "TechnicianAssigned",
                when,
                {**refs, "technician_id": technician, "previous": None},
            )
        return rid

    feedback(east, "suggestion", "cs-p89a")
    late = feedback(east, "inquiry", "cs-p89a", major=True)
    feedback(west, "praise", "cs-p89b")
    # C10: a customer moved from east to west: its feedback from then on counts in the west
    mover = ev.customer(at(2032, 1, 2), region="P89-EAST", code="P89-D0003")
    moved = {"region": "P89-WEST", "previous": "P89-EAST", "reason": "relocated"}
    ev.customer_event(
        mover, "CustomerRegionMoved", when, moved, Actor(id="rm-west", role=Role.REGIONAL_MANAGER)
    )
    feedback(mover, "other", "cs-p89b")
    ev.overdue(
        "Feedback",
        late,
        when + timedelta(days=4),
        "answer",
        when,
        responsible="cs-p89a",
        major=True,
        kind="inquiry",
        customer_id=east,
    )
    repair = request(east, "P89-EAST", "repair", "tech-p89a")
    request(east, "P89-EAST", "training", None)
    request(west, "P89-WEST", "installation", "tech-p89b")
    ev.overdue(
        "ServiceRequest",
        repair,
        when + timedelta(days=8),
        "complete",
        when,
        technician_id="tech-p89a",
        kind="repair",
        customer_id=east,
        region="P89-EAST",
    )
    await consumed(nc, settings, service, ev)

    reply = await request_("reporting", "query", "service_figures", {"period": "2032-06"})
    assert reply["ok"], reply
    regions = {r["region"]: r for r in reply["result"]["regions"]}
    staff = {r["staff_id"]: r for r in reply["result"]["staff"]}
    assert regions["P89-EAST"] == {
        "region": "P89-EAST",
        "feedback": 2,
        "feedback_major": 1,
        "feedback_overdue": 1,
        "service_requests": 2,
        "service_requests_overdue": 1,
        "feedback_by_kind": {"suggestion": 1, "inquiry": 1},
        "service_requests_by_kind": {"repair": 1, "training": 1},
    }
    assert picked(regions["P89-WEST"], "feedback", "service_requests") == (2, 1)
    assert regions["P89-WEST"]["feedback_by_kind"] == {"praise": 1, "other": 1}
    assert picked(regions["P89-WEST"], "feedback_overdue", "service_requests_overdue") == (0, 0)
    assert picked(staff["cs-p89a"], "feedback_assigned", "feedback_overdue") == (2, 1)
    assert picked(staff["cs-p89b"], "feedback_assigned", "feedback_overdue") == (2, 0)
    assert picked(staff["tech-p89a"], "service_requests_assigned", "service_requests_overdue") == (1, 1)
    assert staff["tech-p89b"]["service_requests_overdue"] == 0
    # As of before the misses, none is counted.
    before = await request_(
        "reporting",
        "query",
        "service_figures",
        {"period": "2032-06", "as_of": (when + timedelta(days=1)).isoformat()},
    )
    assert {
        r["region"]: r["feedback_overdue"] + r["service_requests_overdue"]
        for r in before["result"]["regions"]
    } == {
        "P89-EAST": 0,
        "P89-WEST": 0,
    }
