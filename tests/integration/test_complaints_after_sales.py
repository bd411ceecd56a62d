"""P9 after-sales service against real PostgreSQL and NATS, through the bus contract only."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.complaints.domain.aftersales import ASSIGNERS
from shared.contracts import Role
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import CLERK, SUPERVISOR, picked
from tests.conftest import Requester
from tests.integration.complaints_kit import events_of, ok, refused, stored
from tests.integration.test_complaints import quality_complaint, service_complaint

pytestmark = pytest.mark.integration

TECH = {"id": "tech-east-1", "role": "technician"}
OTHER_TECH = {"id": "tech-east-2", "role": "technician"}


def service_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": CLERK,
        "kind": "installation",
        "customer_id": "cust-9",
        "region": "EAST",
        "description": "新设备安装调试 / install and commission the new pump set",
    }
    return body | overrides


async def assigned(request_: Requester, **overrides: Any) -> str:
    rid = (await ok(request_, "log_service_request", service_request(**overrides)))["request_id"]
    await ok(
        request_,
        "assign_technician",
        {"request_id": rid, "technician": {"id": TECH["id"], "region": "EAST"}, "actor": SUPERVISOR},
    )
    return rid


async def test_p9_request_is_served_by_a_technician_of_the_customer_region_and_closed_with_sign_off(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    logged = await ok(request_, "log_service_request", service_request())
    rid = logged["request_id"]
    assert picked(logged, "status", "schedule_by", "complete_by") == (
        "logged",
        "2026-11-22T02:00:00Z",
        "2026-11-27T02:00:00Z",
    )
    done = await ok(
        request_,
        "assign_technician",
        {"request_id": rid, "technician": {"id": TECH["id"], "region": "EAST"}, "actor": SUPERVISOR},
    )
    assert (done["status"], done["technician_id"]) == ("assigned", TECH["id"])
    await ok(
        request_,
        "schedule_service",
        {"request_id": rid, "scheduled_for": "2026-11-21T01:30:00Z", "actor": TECH},
    )
    await ok(
        request_,
        "complete_service",
        {"request_id": rid, "report": "安装完成，试运行正常 / installed, test run fine", "actor": TECH},
    )
    before = stored(complaints)
    error = await refused(request_, "complete_service", {"request_id": rid, "report": "again", "actor": TECH})
    assert (error["code"], error["rule"]) == ("invalid_state", "P9")
    assert stored(complaints) == before
    closed = await ok(
        request_,
        "sign_off_service",
        {"request_id": rid, "signed_by": "王工 Wang", "satisfaction": "satisfied", "actor": TECH},
    )
    assert picked(closed, "status", "signed_by", "satisfaction") == ("signed_off", "王工 Wang", "satisfied")

    events = await events_of(
        nc,
        settings,
        {rid},
        [
            "ServiceRequestLogged",
            "TechnicianAssigned",
            "ServiceScheduled",
            "ServiceCompleted",
            "ServiceSignedOff",
        ],
    )
    assert all(
        (e["data"]["region"], e["data"]["customer_id"], e["data"]["kind"])
        == ("EAST", "cust-9", "installation")
        for e in events
    )
    assert events[1]["data"]["technician_id"] == TECH["id"]
    assert (events[2]["data"]["within_deadline"], events[3]["data"]["within_deadline"]) == (True, True)


async def test_p9_a_technician_of_another_region_is_refused(
    complaints: WriteService, request_: Requester
) -> None:
    rid = (await ok(request_, "log_service_request", service_request(kind="training")))["request_id"]
    before = stored(complaints)
    error = await refused(
        request_,
        "assign_technician",
        {"request_id": rid, "technician": {"id": "tech-west-1", "region": "WEST"}, "actor": SUPERVISOR},
    )
    assert (error["rule"], error["details"]["technician_region"], error["details"]["region"]) == (
        "P9",
        "WEST",
        "EAST",
    )
    assert stored(complaints) == before
    got = await ok(request_, "get_service_request", {"request_id": rid}, kind="query")
    assert (got["status"], got["technician_id"]) == ("logged", None)


async def test_p9_only_the_assigned_technician_schedules_and_completes(
    complaints: WriteService, request_: Requester
) -> None:
    rid = await assigned(request_, kind="technical_support")
    schedule = {"request_id": rid, "scheduled_for": "2026-11-21T01:30:00Z"}
    before = stored(complaints)
    error = await refused(request_, "schedule_service", schedule | {"actor": OTHER_TECH})
    assert (error["code"], error["rule"]) == ("forbidden", "P9")
    for role in Role:
        if role is Role.TECHNICIAN:
            continue
        error = await refused(
            request_, "schedule_service", schedule | {"actor": {"id": TECH["id"], "role": role.value}}
        )
        assert (error["code"], error["rule"]) == ("forbidden", "P9"), role
    assert stored(complaints) == before
    await ok(request_, "schedule_service", schedule | {"actor": TECH})
    error = await refused(
        request_, "complete_service", {"request_id": rid, "report": "done", "actor": OTHER_TECH}
    )
    assert (error["code"], error["rule"]) == ("forbidden", "P9")


async def test_p9_every_role_not_allowed_to_assign_is_refused_and_nothing_stored(
    complaints: WriteService, request_: Requester
) -> None:
    rid = (await ok(request_, "log_service_request", service_request()))["request_id"]
    body = {"request_id": rid, "technician": {"id": TECH["id"], "region": "EAST"}}
    before = stored(complaints)
    for role in Role:
        if role in ASSIGNERS:
            continue
        error = await refused(
            request_, "assign_technician", body | {"actor": {"id": f"{role.value}-1", "role": role.value}}
        )
        assert (error["code"], error["rule"]) == ("forbidden", "P9"), role
    assert stored(complaints) == before
    await ok(request_, "assign_technician", body | {"actor": SUPERVISOR})
    assert stored(complaints) > before


async def test_p9_a_repair_of_a_quality_defect_names_an_existing_quality_complaint(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    repair = service_request(
        kind="repair", quality_defect=True, description="阀体渗漏返修 / repair the leaking valves"
    )
    service_id = (await ok(request_, "log_complaint", service_complaint("sp-p9")))["complaint_id"]
    before = stored(complaints)
    for complaint_id, problem in (
        (None, "complaint_id"),
        ("00000000-0000-0000-0000-000000000009", "complaint_id"),
        (service_id, "complaint_id"),
    ):
        body = repair if complaint_id is None else repair | {"complaint_id": complaint_id}
        error = await refused(request_, "log_service_request", body)
        assert (error["rule"], error["details"]["field"]) == ("P9", problem), complaint_id
    error = await refused(request_, "log_service_request", service_request(complaint_id=service_id))
    assert (error["rule"], error["details"]["field"]) == ("P9", "complaint_id")
    assert stored(complaints) == before

    quality_id = (await ok(request_, "log_complaint", quality_complaint()))["complaint_id"]
    logged = await ok(request_, "log_service_request", repair | {"complaint_id": quality_id})
    assert (logged["complaint_id"], logged["quality_defect"]) == (quality_id, True)
    [event] = await events_of(nc, settings, {logged["request_id"]}, ["ServiceRequestLogged"])
    assert (event["data"]["complaint_id"], event["data"]["kind"]) == (quality_id, "repair")


async def test_p9_the_handling_record_is_exportable_in_chinese_and_english(
    complaints: WriteService, request_: Requester
) -> None:
    rid = await assigned(request_, kind="repair")
    await ok(
        request_,
        "schedule_service",
        {"request_id": rid, "scheduled_for": "2026-11-21T01:30:00Z", "notes": "带备件", "actor": TECH},
    )
    form = await ok(request_, "get_service_record", {"request_id": rid}, kind="query")
    assert picked(form, "form", "title_zh", "title_en") == (
        "after_sales_service_form",
        "售后服务处理表",
        "After-sales Service Handling Form",
    )
    record = form["record"]
    assert picked(record, "technician_id", "region", "status", "schedule_notes") == (
        TECH["id"],
        "EAST",
        "scheduled",
        "带备件",
    )
    assert [(s["step"], s["actor_id"]) for s in record["history"]] == [
        ("ServiceRequestLogged", "cs-1"),
        ("TechnicianAssigned", "sup-1"),
        ("ServiceScheduled", TECH["id"]),
    ]
    exported = await ok(request_, "export_service_record", {"request_id": rid}, kind="query")
    assert exported["filename"] == f"after_sales_service_form-{rid}.html"
    html = exported["content"]
    for text in (
        "售后服务处理表",
        "After-sales Service Handling Form",
        "技术服务人员",
        "Technician",
        TECH["id"],
        "2026-11-21 09:30",
    ):
        assert text in html, text
    assert "<script" not in html and "http" not in html
