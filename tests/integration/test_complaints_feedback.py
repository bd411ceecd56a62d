"""P8 customer feedback against real PostgreSQL and NATS, through the bus contract only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.complaints.domain.feedback import ASSIGNERS
from shared.clock import FixedClock
from shared.contracts import Role
from shared.runtime import WriteService
from shared.settings import Settings
from tests.builders import CLERK, GM, SUPERVISOR, VP
from tests.conftest import Requester
from tests.integration.complaints_kit import T0, events_of, ok, refused, stored

pytestmark = pytest.mark.integration


def feedback(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": CLERK,
        "kind": "suggestion",
        "customer_id": "cust-8",
        "content": "希望增加周末送货 / please deliver on Saturdays too",
        "assigned_to": "sm-1",
    }
    return body | overrides


async def test_p8_every_kind_is_logged_assigned_and_answered_within_three_days(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    logged = [
        await ok(request_, "log_feedback", feedback(kind=kind))
        for kind in ("suggestion", "inquiry", "praise", "other")
    ]
    assert [f["kind"] for f in logged] == ["suggestion", "inquiry", "praise", "other"]
    assert {f["answer_by"] for f in logged} == {"2026-11-23T02:00:00Z"}
    assert all(f["status"] == "logged" and f["escalated_to"] is None for f in logged)

    fid = logged[0]["feedback_id"]
    moved = await ok(
        request_, "assign_feedback", {"feedback_id": fid, "assigned_to": "sm-2", "actor": SUPERVISOR}
    )
    assert moved["assigned_to"] == "sm-2"
    error = await refused(
        request_,
        "answer_feedback",
        {"feedback_id": fid, "answer": "ok", "actor": {"id": "sm-1", "role": "sales_manager"}},
    )
    assert (error["code"], error["rule"]) == ("forbidden", "P8")
    answer = {
        "feedback_id": fid,
        "answer": "周六可送货 / Saturday delivery from next week",
        "actor": {"id": "sm-2", "role": "sales_manager"},
    }
    answered = await ok(request_, "answer_feedback", answer)
    assert (answered["status"], answered["answered_at"]) == ("answered", "2026-11-20T02:00:00Z")
    before = stored(complaints)
    error = await refused(request_, "answer_feedback", answer)
    assert (error["code"], error["rule"]) == ("invalid_state", "P8")
    assert stored(complaints) == before

    events = await events_of(nc, settings, {fid}, ["FeedbackLogged", "FeedbackAssigned", "FeedbackAnswered"])
    assert (events[0]["data"]["kind"], events[0]["data"]["customer_id"]) == ("suggestion", "cust-8")
    assert (events[1]["data"]["assigned_to"], events[1]["data"]["previous"]) == ("sm-2", "sm-1")
    assert (events[2]["data"]["assigned_to"], events[2]["data"]["within_deadline"]) == ("sm-2", True)


async def test_p8_unknown_kind_is_refused_and_stores_nothing(
    complaints: WriteService, request_: Requester
) -> None:
    before = stored(complaints)
    error = await refused(request_, "log_feedback", feedback(kind="complaint"))
    assert error["code"] == "invalid"
    assert [e["field"] for e in error["details"]["errors"]] == ["kind"]
    assert stored(complaints) == before


async def test_p8_major_feedback_is_escalated_to_the_general_manager_at_once_and_acknowledged(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    logged = await ok(
        request_,
        "log_feedback",
        feedback(kind="other", major=True, content="经销商集体反映调价 / dealers protest the price change"),
    )
    fid = logged["feedback_id"]
    assert (logged["escalated_to"], logged["escalation_acknowledge_by"]) == (
        "general_manager",
        "2026-11-21T02:00:00Z",
    )
    escalated = await events_of(nc, settings, {fid}, ["FeedbackLogged", "FeedbackEscalated"])
    assert escalated[1]["data"]["escalated_to"] == "general_manager"
    assert escalated[0]["data"]["major"] is True

    acknowledge = {"feedback_id": fid, "notes": "收到，下周约谈 / meeting the dealers next week"}
    before = stored(complaints)
    error = await refused(request_, "acknowledge_escalation", acknowledge | {"actor": VP})
    assert (error["code"], error["rule"]) == ("forbidden", "P8")
    assert stored(complaints) == before
    done = await ok(request_, "acknowledge_escalation", acknowledge | {"actor": GM})
    assert done["escalation_acknowledged_at"] == "2026-11-20T02:00:00Z"
    error = await refused(request_, "acknowledge_escalation", acknowledge | {"actor": GM})
    assert (error["code"], error["rule"]) == ("invalid_state", "P8")
    await events_of(
        nc, settings, {fid}, ["FeedbackLogged", "FeedbackEscalated", "FeedbackEscalationAcknowledged"]
    )

    ordinary = (await ok(request_, "log_feedback", feedback()))["feedback_id"]
    error = await refused(request_, "acknowledge_escalation", {"feedback_id": ordinary, "actor": GM})
    assert (error["code"], error["rule"]) == ("invalid_state", "P8")


@pytest.mark.parametrize(
    ("command", "allowed"),
    [("assign_feedback", ASSIGNERS), ("acknowledge_escalation", frozenset({Role.GENERAL_MANAGER}))],
)
async def test_p8_every_role_not_allowed_is_refused_and_nothing_stored(
    complaints: WriteService, request_: Requester, command: str, allowed: frozenset[Role]
) -> None:
    fid = (await ok(request_, "log_feedback", feedback(major=True)))["feedback_id"]
    body = {"feedback_id": fid} | ({"assigned_to": "sm-3"} if command == "assign_feedback" else {})
    before = stored(complaints)
    for role in Role:
        if role in allowed:
            continue
        error = await refused(
            request_, command, body | {"actor": {"id": f"{role.value}-1", "role": role.value}}
        )
        assert (error["code"], error["rule"]) == ("forbidden", "P8"), role
    assert stored(complaints) == before
    allowed_actor = {"id": "allowed-1", "role": sorted(allowed)[0].value}
    await ok(request_, command, body | {"actor": allowed_actor})
    assert stored(complaints) > before


async def test_p8_the_system_logs_no_feedback(complaints: WriteService, request_: Requester) -> None:
    before = stored(complaints)
    error = await refused(request_, "log_feedback", feedback(actor={"id": "bot", "role": "system"}))
    assert (error["code"], error["rule"]) == ("forbidden", "P8")
    assert stored(complaints) == before


async def test_p8_a_late_answer_is_marked_late(
    complaints: WriteService, request_: Requester, nc: NATS, settings: Settings
) -> None:
    clock = complaints.app.clock
    assert isinstance(clock, FixedClock)
    fid = (await ok(request_, "log_feedback", feedback(kind="inquiry")))["feedback_id"]
    clock.advance(timedelta(days=3, minutes=1))
    try:
        await ok(
            request_,
            "answer_feedback",
            {
                "feedback_id": fid,
                "answer": "price list sent",
                "actor": {"id": "sm-1", "role": "sales_manager"},
            },
        )
    finally:
        clock.set(T0)
    events = await events_of(nc, settings, {fid}, ["FeedbackLogged", "FeedbackAnswered"])
    assert events[1]["data"]["within_deadline"] is False
