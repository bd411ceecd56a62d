"""Complaints service (P1–P6) against real PostgreSQL and NATS, through the bus contract only."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.clock import FixedClock
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import CLERK, GM, OTHER_MANAGER, SALES_MANAGER, SUPERVISOR, VP, picked
from tests.conftest import Requester
from tests.integration.complaints_kit import events_of, ok, refused, stored_events, stream_events

pytestmark = pytest.mark.integration


def service_complaint(staff_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": CLERK,
        "complaint_type": "service",
        "customer_id": "cust-1",
        "order_id": "ord-1",
        "staff_id": staff_id,
        "description": "业务员态度恶劣 / the salesperson was rude on the phone",
        "assigned_to": "vp-1",
        "assigned_role": "sales_vp",
    }
    return body | overrides


def quality_complaint(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": CLERK,
        "complaint_type": "quality",
        "customer_id": "cust-2",
        "order_id": "ord-2",
        "receipt_number": "FH-2026-0113",
        "product_name": "截止阀 globe valve",
        "spec": "DN50 PN16",
        "quantity": 40,
        "purchase_date": "2026-10-30",
        "description": "阀体渗漏 / valve bodies leak under test pressure",
        "assigned_to": "sm-1",
    }
    return body | overrides


# P1 / P2 ----------------------------------------------------------------------------------------------
async def test_p1_only_quality_and_service_complaints(complaints: WriteService, request_: Requester) -> None:
    before = stored_events(complaints.app)  # type: ignore[arg-type]
    error = await refused(request_, "log_complaint", service_complaint("sp-p1", complaint_type="price"))
    assert error["code"] == "invalid"
    assert [e["field"] for e in error["details"]["errors"]] == ["complaint_type"]
    assert stored_events(complaints.app) == before  # type: ignore[arg-type]


async def test_p2_service_complaint_names_staff_and_goes_to_vp_or_gm(
    complaints: WriteService, request_: Requester
) -> None:
    before = stored_events(complaints.app)  # type: ignore[arg-type]
    no_staff = service_complaint("x")
    del no_staff["staff_id"]
    error = await refused(request_, "log_complaint", no_staff)
    assert (error["rule"], error["details"]["missing"]) == ("P2", ["staff_id"])
    error = await refused(
        request_,
        "log_complaint",
        service_complaint("sp-p2", assigned_to="sm-1", assigned_role="sales_manager"),
    )
    assert error["rule"] == "P2"
    assert stored_events(complaints.app) == before  # type: ignore[arg-type]

    logged = await ok(
        request_,
        "log_complaint",
        service_complaint("sp-p2", assigned_to="gm-1", assigned_role="general_manager"),
    )
    assert picked(logged, "assigned_role", "staff_id", "status") == ("general_manager", "sp-p2", "logged")


async def test_p2_quality_complaint_records_registration_fields(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    before = stored_events(complaints.app)  # type: ignore[arg-type]
    body = quality_complaint()
    for field in ("product_name", "spec", "quantity", "purchase_date"):
        del body[field]
    error = await refused(request_, "log_complaint", body)
    assert error["rule"] == "P2"
    assert sorted(error["details"]["missing"]) == ["product_name", "purchase_date", "quantity", "spec"]
    assert stored_events(complaints.app) == before  # type: ignore[arg-type]

    logged = await ok(request_, "log_complaint", quality_complaint())
    [event] = await events_of(nc, settings, {logged["complaint_id"]}, ["ComplaintLogged"])
    data = event["data"]
    assert picked(data, "product_name", "spec", "quantity", "purchase_date") == (
        "截止阀 globe valve",
        "DN50 PN16",
        40,
        "2026-10-30",
    )
    assert picked(data, "assigned_to", "assigned_role", "order_id") == ("sm-1", "sales_manager", "ord-2")


async def test_p2_quality_complaint_goes_to_the_sales_manager_in_person(
    complaints: WriteService, request_: Requester
) -> None:
    error = await refused(
        request_, "log_complaint", quality_complaint(assigned_to="vp-1", assigned_role="sales_vp")
    )
    assert error["rule"] == "P2"
    logged = await ok(request_, "log_complaint", quality_complaint())
    cid = logged["complaint_id"]
    investigate = {"complaint_id": cid, "departments_notified": ["production", "quality"]}
    error = await refused(request_, "start_investigation", investigate | {"actor": OTHER_MANAGER})
    assert (error["code"], error["rule"]) == ("forbidden", "P2")
    error = await refused(request_, "start_investigation", investigate | {"actor": VP})
    assert (error["code"], error["rule"]) == ("forbidden", "P2")
    assert (await ok(request_, "start_investigation", investigate | {"actor": SALES_MANAGER}))[
        "status"
    ] == "investigating"


# P3 ---------------------------------------------------------------------------------------------------
async def test_p3_quality_workflow_to_closed(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", quality_complaint()))["complaint_id"]
    step = {"complaint_id": cid, "actor": SALES_MANAGER}
    # illegal transitions are refused with the rule id
    assert (await refused(request_, "close_complaint", step))["rule"] == "P3"
    assert (await refused(request_, "resolve_complaint", step | {"resolution": "replace"}))["rule"] == "P3"
    assert (await refused(request_, "propose_handling", step | {"proposal": "x"}))["rule"] == "P4"

    await ok(request_, "start_investigation", step | {"departments_notified": ["production", "quality"]})
    error = await refused(request_, "resolve_complaint", step | {"resolution": "replace"})
    assert (error["rule"], error["code"]) == ("P3", "invalid_state")  # validity not decided yet
    await ok(request_, "verify_complaint", step | {"actor": GM, "valid": True, "cause": "casting porosity"})
    await ok(request_, "record_site_visit", step | {"visited_on": "2026-11-21", "findings": "12 of 40 leak"})
    await ok(request_, "resolve_complaint", step | {"resolution": "replace", "notes": "12 valves replaced"})
    assert (await refused(request_, "follow_up", step | {"notes": "too early"}))["rule"] == "P3"
    await ok(request_, "inform_customer", step | {"satisfaction": "satisfied"})
    await ok(request_, "follow_up", step | {"notes": "no further leaks after 2 weeks"})
    closed = await ok(request_, "close_complaint", step)
    assert (closed["status"], closed["valid"], closed["penalty"]) == ("closed", True, None)
    assert (await refused(request_, "close_complaint", step))["rule"] == "P3"

    events = await events_of(
        nc,
        settings,
        {cid},
        [
            "ComplaintLogged",
            "ComplaintInvestigationStarted",
            "ComplaintVerified",
            "ComplaintSiteVisited",
            "ComplaintResolved",
            "ComplaintCustomerInformed",
            "ComplaintFollowedUp",
            "ComplaintClosed",
        ],
    )
    assert all(e["data"]["customer_id"] == "cust-2" and e["data"]["order_id"] == "ord-2" for e in events)
    assert events[4]["data"]["resolution"] == "replace"
    assert events[-1]["actor"] == SALES_MANAGER


async def test_p3_quality_handling_form_is_the_complete_record(
    complaints: WriteService, request_: Requester
) -> None:
    cid = (await ok(request_, "log_complaint", quality_complaint()))["complaint_id"]
    step = {"complaint_id": cid, "actor": SALES_MANAGER}
    await ok(request_, "start_investigation", step | {"departments_notified": ["production"]})
    await ok(
        request_, "verify_complaint", {"complaint_id": cid, "actor": GM, "valid": True, "cause": "bad seal"}
    )
    await ok(request_, "resolve_complaint", step | {"resolution": "refund", "amount": "1200.00"})
    form = await ok(request_, "get_handling_form", {"complaint_id": cid}, kind="query")
    assert (form["form"], form["title_zh"]) == ("quality_handling_form", "客户投诉质量处理表")
    record = form["record"]
    assert record["receipt_number"] == "FH-2026-0113"
    assert picked(record, "cause", "resolution", "resolution_amount") == ("bad seal", "refund", "1200.00")
    assert record["departments_notified"] == ["production"]
    assert [h["step"] for h in record["history"]] == [
        "logged",
        "investigation_started",
        "verified",
        "resolved",
    ]
    assert [h["actor_id"] for h in record["history"]] == ["cs-1", "sm-1", "gm-1", "sm-1"]


# P4 ---------------------------------------------------------------------------------------------------
async def test_p4_service_workflow_to_closed(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", service_complaint("sp-p4")))["complaint_id"]
    step = {"complaint_id": cid}
    # refusals: wrong role, wrong order, wrong workflow
    error = await refused(request_, "verify_complaint", step | {"actor": SALES_MANAGER, "valid": False})
    assert (error["code"], error["rule"]) == ("forbidden", "P4")
    assert (await refused(request_, "decide_handling", step | {"actor": VP, "decision": "x"}))["rule"] == "P4"
    assert (
        await refused(request_, "start_investigation", step | {"actor": VP, "departments_notified": ["qa"]})
    )["rule"] == "P3"

    await ok(request_, "verify_complaint", step | {"actor": VP, "valid": True, "severity": "minor"})
    await ok(request_, "propose_handling", step | {"actor": SUPERVISOR, "proposal": "通报批评, 罚款 100 元"})
    error = await refused(request_, "decide_handling", step | {"actor": SUPERVISOR, "decision": "agreed"})
    assert (error["code"], error["rule"]) == ("forbidden", "P4")
    await ok(request_, "decide_handling", step | {"actor": GM, "decision": "agreed"})
    await ok(request_, "inform_customer", step | {"actor": SUPERVISOR, "satisfaction": "partly_satisfied"})
    closed = await ok(request_, "close_complaint", step | {"actor": VP})
    assert closed["status"] == "closed"

    events = await events_of(
        nc,
        settings,
        {cid},
        [
            "ComplaintLogged",
            "ComplaintVerified",
            "PenaltyIssued",
            "ComplaintProposalMade",
            "ComplaintDecided",
            "ComplaintCustomerInformed",
            "ComplaintClosed",
        ],
    )
    assert all(e["data"]["staff_id"] == "sp-p4" for e in events)
    assert events[-1]["data"]["fine"] == "100.00"

    form = await ok(request_, "get_handling_form", {"complaint_id": cid}, kind="query")
    record = form["record"]
    assert form["form"] == "service_handling_form"
    assert picked(record, "staff_id", "severity", "fine", "public_criticism") == (
        "sp-p4",
        "minor",
        "100.00",
        True,
    )
    assert picked(record, "decision", "satisfaction", "status") == ("agreed", "partly_satisfied", "closed")


async def test_p4_invalid_service_complaint_is_closed_without_penalty(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", service_complaint("sp-p4b")))["complaint_id"]
    step = {"complaint_id": cid}
    error = await refused(request_, "verify_complaint", step | {"actor": VP, "valid": False, "fine": "100"})
    assert error["rule"] == "P5"
    await ok(
        request_,
        "verify_complaint",
        step | {"actor": VP, "valid": False, "notes": "recording shows no fault"},
    )
    assert (await refused(request_, "propose_handling", step | {"actor": VP, "proposal": "x"}))[
        "rule"
    ] == "P4"
    await ok(request_, "inform_customer", step | {"actor": VP, "satisfaction": "dissatisfied"})
    await ok(request_, "close_complaint", step | {"actor": VP})
    await events_of(
        nc,
        settings,
        {cid},
        [
            "ComplaintLogged",
            "ComplaintVerified",
            "ComplaintCustomerInformed",
            "ComplaintClosed",
        ],
    )
    record = await ok(request_, "get_staff_record", {"staff_id": "sp-p4b"}, kind="query")
    assert record["penalties"] == []


# P5 ---------------------------------------------------------------------------------------------------
async def test_p5_valid_service_complaint_issues_penalty_on_the_bus(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    """The skeleton flow: ComplaintLogged → ComplaintVerified → PenaltyIssued (150) on the stream."""
    logged = await ok(request_, "log_complaint", service_complaint("sp-skel"))
    cid = logged["complaint_id"]
    verified = await ok(
        request_,
        "verify_complaint",
        {
            "complaint_id": cid,
            "actor": VP,
            "valid": True,
            "severity": "moderate",
            "cause": "confirmed by recording",
        },
    )
    assert verified["penalty"]["amount"] == "150.00"

    logged_e, verified_e, penalty_e = await events_of(
        nc, settings, {cid}, ["ComplaintLogged", "ComplaintVerified", "PenaltyIssued"]
    )
    for envelope in (logged_e, verified_e, penalty_e):
        assert envelope["subject"] == f"{settings.namespace}.complaints.events.{envelope['event_type']}"
        assert picked(envelope, "service", "aggregate_type", "schema_version") == (
            "complaints",
            "Complaint",
            1,
        )
        assert envelope["occurred_at"].startswith("2026-11-20T02:00:00")
    assert [e["aggregate_version"] for e in (logged_e, verified_e, penalty_e)] == [1, 2, 3]
    assert logged_e["actor"] == CLERK and penalty_e["actor"] == VP
    assert verified_e["correlation_id"] == penalty_e["correlation_id"]  # one command, one correlation
    expected = {
        "complaint_type": "service",
        "customer_id": "cust-1",
        "order_id": "ord-1",
        "staff_id": "sp-skel",
        "assigned_to": "vp-1",
    }
    assert {k: logged_e["data"][k] for k in expected} == expected
    assert verified_e["data"]["valid"] is True and verified_e["data"]["severity"] == "moderate"
    assert penalty_e["data"] == {
        "complaint_id": cid,
        "customer_id": "cust-1",
        "order_id": "ord-1",
        "staff_id": "sp-skel",
        "severity": "moderate",
        "amount": "150.00",
        "public_criticism": True,
    }


@pytest.mark.parametrize(("severity", "amount"), [("minor", "100.00"), ("serious", "200.00")])
async def test_p5_fine_by_severity(
    complaints: WriteService, request_: Requester, severity: str, amount: str
) -> None:
    cid = (await ok(request_, "log_complaint", service_complaint(f"sp-fine-{severity}")))["complaint_id"]
    verified = await ok(
        request_, "verify_complaint", {"complaint_id": cid, "actor": VP, "valid": True, "severity": severity}
    )
    assert (verified["penalty"]["amount"], verified["penalty"]["public_criticism"]) == (amount, True)


async def test_p5_fine_out_of_range_refused(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", service_complaint("sp-range")))["complaint_id"]
    verify = {"complaint_id": cid, "actor": VP, "valid": True, "severity": "minor"}
    before = stored_events(complaints.app)  # type: ignore[arg-type]
    for fine in ("99.99", "200.01", "500"):
        error = await refused(request_, "verify_complaint", verify | {"fine": fine})
        assert (error["rule"], error["details"]["field"]) == ("P5", "fine")
    assert stored_events(complaints.app) == before  # type: ignore[arg-type]
    assert (await ok(request_, "get_complaint", {"complaint_id": cid}, kind="query"))["status"] == "logged"

    verified = await ok(
        request_, "verify_complaint", verify | {"fine": "180"}
    )  # an explicit fine within range
    assert verified["penalty"]["amount"] == "180.00"
    await events_of(nc, settings, {cid}, ["ComplaintLogged", "ComplaintVerified", "PenaltyIssued"])


async def test_p5_severe_complaint_recommends_dismissal(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", service_complaint("sp-severe")))["complaint_id"]
    verified = await ok(
        request_, "verify_complaint", {"complaint_id": cid, "actor": GM, "valid": True, "severity": "severe"}
    )
    assert verified["dismissal_recommended"] is True
    record = await ok(request_, "get_staff_record", {"staff_id": "sp-severe"}, kind="query")
    [dismissal] = record["dismissals"]
    assert dismissal["complaint_id"] == cid and "severe" in dismissal["reason"]
    staff_events = [
        e
        for e in await stream_events(nc, settings)
        if e["aggregate_type"] == "StaffRecord" and e["data"].get("staff_id") == "sp-severe"
    ]
    assert [e["event_type"] for e in staff_events] == [
        "StaffRecordOpened",
        "StaffPenaltyCounted",
        "DismissalRecommended",
    ]
    assert staff_events[-1]["data"]["complaint_id"] == cid


async def test_p5_third_valid_complaint_within_12_months_recommends_dismissal(
    complaints: WriteService, request_: Requester
) -> None:
    clock: FixedClock = complaints.app.clock  # type: ignore[assignment]
    start = clock.now()
    try:
        results = []
        # the first one falls out of the 12-month window by the time of the fourth
        for moment in ("2025-11-01", "2026-03-01", "2026-09-01", "2026-11-20"):
            clock.set(datetime.fromisoformat(f"{moment}T02:00:00+00:00"))
            cid = (await ok(request_, "log_complaint", service_complaint("sp-three")))["complaint_id"]
            results.append(
                await ok(
                    request_,
                    "verify_complaint",
                    {"complaint_id": cid, "actor": VP, "valid": True, "severity": "minor"},
                )
            )
        # a rejected (invalid) complaint does not count
        cid = (await ok(request_, "log_complaint", service_complaint("sp-three")))["complaint_id"]
        await ok(request_, "verify_complaint", {"complaint_id": cid, "actor": VP, "valid": False})
    finally:
        clock.set(start)
    assert [r["dismissal_recommended"] for r in results] == [False, False, True, True]
    record = await ok(request_, "get_staff_record", {"staff_id": "sp-three"}, kind="query")
    assert len(record["penalties"]) == 4 and record["total_fines"] == "400.00"
    assert [d["complaint_id"] for d in record["dismissals"]] == [
        results[2]["complaint_id"],
        results[3]["complaint_id"],
    ]
    assert "no. 3 within 12 months" in record["dismissals"][0]["reason"]


async def test_p5_concurrent_verifications_against_one_person_all_count(
    complaints: WriteService, request_: Requester
) -> None:
    ids = [
        (await ok(request_, "log_complaint", service_complaint("sp-race")))["complaint_id"] for _ in range(3)
    ]
    replies = await asyncio.gather(
        *(
            request_(
                "complaints",
                "cmd",
                "verify_complaint",
                {"complaint_id": cid, "actor": VP, "valid": True, "severity": "moderate"},
            )
            for cid in ids
        )
    )
    assert all(r["ok"] for r in replies), replies
    assert sum(r["result"]["dismissal_recommended"] for r in replies) == 1
    record = await ok(request_, "get_staff_record", {"staff_id": "sp-race"}, kind="query")
    assert sorted(p["complaint_id"] for p in record["penalties"]) == sorted(ids)
    assert len(record["dismissals"]) == 1


# P6 ---------------------------------------------------------------------------------------------------
async def test_p6_quality_complaint_is_decided_by_gm_and_never_penalised(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    cid = (await ok(request_, "log_complaint", quality_complaint(staff_id="sp-q")))["complaint_id"]
    await ok(
        request_,
        "start_investigation",
        {"complaint_id": cid, "actor": SALES_MANAGER, "departments_notified": ["qa"]},
    )
    verify = {"complaint_id": cid, "valid": True, "cause": "material defect"}
    for actor in (VP, SALES_MANAGER):
        error = await refused(request_, "verify_complaint", verify | {"actor": actor})
        assert (error["code"], error["rule"]) == ("forbidden", "P6")
    assert (await refused(request_, "verify_complaint", verify | {"actor": GM, "fine": "150"}))[
        "rule"
    ] == "P6"
    assert (await refused(request_, "verify_complaint", verify | {"actor": GM, "severity": "serious"}))[
        "rule"
    ] == "P6"
    verified = await ok(request_, "verify_complaint", verify | {"actor": GM})
    assert (verified["valid"], verified["penalty"]) == (True, None)
    await events_of(
        nc, settings, {cid}, ["ComplaintLogged", "ComplaintInvestigationStarted", "ComplaintVerified"]
    )
    record = await ok(request_, "get_staff_record", {"staff_id": "sp-q"}, kind="query")
    assert record["penalties"] == [] and record["dismissals"] == []


# contract ---------------------------------------------------------------------------------------------
async def test_unknown_complaint_is_not_found(complaints: WriteService, request_: Requester) -> None:
    error = await refused(request_, "close_complaint", {"complaint_id": "nope", "actor": VP})
    assert error["code"] == "not_found"


async def test_idempotency_key_gives_the_first_reply_and_stores_nothing_new(
    complaints: WriteService, request_: Requester
) -> None:
    body = service_complaint("sp-idem", idempotency_key="complaint-call-123")
    first = await ok(request_, "log_complaint", body)
    before = stored_events(complaints.app)  # type: ignore[arg-type]
    again = await ok(request_, "log_complaint", body)
    assert again == first
    assert stored_events(complaints.app) == before  # type: ignore[arg-type]
