"""P8/P9 deadlines against real PostgreSQL and NATS: the scheduler started by main's ``extra`` hook raises
each passed deadline of a feedback or an after-sales request by itself, once, also across a restart."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import pytest
from nats.aio.client import Client as NATS

from services.complaints.application import SYSTEM
from shared.clock import FixedClock
from shared.settings import Settings
from tests.builders import SALES_MANAGER, SUPERVISOR
from tests.conftest import Requester
from tests.integration.complaints_kit import T0, ok, stream_events
from tests.integration.deadlines_kit import Events, Stream, complaints_scanning, nothing_raised, settle_on
from tests.integration.test_complaints_after_sales import TECH, service_request
from tests.integration.test_complaints_feedback import feedback

pytestmark = pytest.mark.integration


@pytest.fixture
def events(nc: NATS, settings: Settings) -> Stream:
    return functools.partial(stream_events, nc, settings)


def raised(event_type: str, ids: set[str]) -> Callable[[Events], list[tuple[str, str]]]:
    """The deadlines of this type raised for these ids (the module's other test raises its own)."""
    return lambda events: sorted(
        (e["aggregate_id"], e["data"]["stage"])
        for e in events
        if e["event_type"] == event_type and e["aggregate_id"] in ids
    )


async def test_p8_overdue_answer_and_escalation_raised_once_across_a_restart(
    settings: Settings, events: Stream, request_: Requester
) -> None:
    clock = FixedClock(T0)
    async with complaints_scanning(settings, clock):
        major = (await ok(request_, "log_feedback", feedback(major=True)))["feedback_id"]
        acknowledged = (await ok(request_, "log_feedback", feedback(major=True)))["feedback_id"]
        answered = (await ok(request_, "log_feedback", feedback(kind="praise")))["feedback_id"]
        overdue = raised("FeedbackOverdue", {major, acknowledged, answered})
        await ok(
            request_,
            "acknowledge_escalation",
            {"feedback_id": acknowledged, "actor": {"id": "gm-1", "role": "general_manager"}},
        )
        await ok(
            request_,
            "answer_feedback",
            {"feedback_id": answered, "answer": "谢谢 / thank you", "actor": SALES_MANAGER},
        )

        clock.advance(timedelta(hours=23))  # within a day: nothing is late yet
        await nothing_raised(events, overdue)
        clock.advance(timedelta(hours=2))  # 25 h: the unacknowledged escalation only
        now = await settle_on(events, overdue, [(major, "escalation")])
        [event] = [e for e in now if e["event_type"] == "FeedbackOverdue" and e["aggregate_id"] == major]
        assert (event["data"]["responsible"], event["data"]["major"]) == ("general_manager", True)
        assert event["data"]["deadline"].startswith("2026-11-21T02:00:00")
        assert event["actor"] == {"id": SYSTEM.id, "role": "system"}

    # A new process on the same store, 4 days after logging: the unanswered ones are late, once each.
    clock.set(T0 + timedelta(days=4))
    async with complaints_scanning(settings, clock):
        expected = sorted([(major, "escalation"), (major, "answer"), (acknowledged, "answer")])
        await settle_on(events, overdue, expected)
        got = await ok(request_, "get_feedback", {"feedback_id": major}, kind="query")
        assert got["overdue"] == ["answer", "escalation"]


async def test_p9_overdue_schedule_and_completion_raised_once_across_a_restart(
    settings: Settings, events: Stream, request_: Requester
) -> None:
    clock = FixedClock(T0)
    async with complaints_scanning(settings, clock):
        unscheduled = (await ok(request_, "log_service_request", service_request()))["request_id"]
        scheduled = (await ok(request_, "log_service_request", service_request(kind="training")))[
            "request_id"
        ]
        overdue = raised("ServiceRequestOverdue", {unscheduled, scheduled})
        await ok(
            request_,
            "assign_technician",
            {
                "request_id": scheduled,
                "technician": {"id": TECH["id"], "region": "EAST"},
                "actor": SUPERVISOR,
            },
        )
        await ok(
            request_,
            "schedule_service",
            {"request_id": scheduled, "scheduled_for": "2026-11-21T01:30:00Z", "actor": TECH},
        )

        clock.advance(timedelta(days=2, hours=-1))  # within 2 days: nothing is late yet
        await nothing_raised(events, overdue)
        clock.advance(timedelta(hours=2))
        now = await settle_on(events, overdue, [(unscheduled, "schedule")])
        [event] = [e for e in now if e["event_type"] == "ServiceRequestOverdue"]
        assert (event["data"]["region"], event["data"]["technician_id"]) == ("EAST", None)

    # A new process on the same store, 8 days after logging: neither was completed, raised once each.
    clock.set(T0 + timedelta(days=8))
    async with complaints_scanning(settings, clock):
        expected = sorted([(unscheduled, "schedule"), (unscheduled, "complete"), (scheduled, "complete")])
        await settle_on(events, overdue, expected)
        got = await ok(request_, "get_service_request", {"request_id": scheduled}, kind="query")
        assert got["overdue"] == ["complete"]
