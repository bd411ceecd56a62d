"""R12's alerts on what is due soon or late, against real PostgreSQL and NATS: holds expiring within 24 h
(O9), complaints, feedback and after-sales requests past a deadline and not yet finished (P7, P8, P9).

One reporting service for the module, its clock fixed at 2034-05-10 12:00 Asia/Shanghai; each test has
customers of its own and reads only their alerts.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.reporting.main import ReportingService
from shared.clock import BUSINESS_TZ
from shared.contracts import Actor, Role
from shared.settings import Settings
from tests.conftest import Requester
from tests.integration.reporting_kit import SYSTEM, Events, at, consumed, reporting_at

pytestmark = pytest.mark.integration

NOW = datetime(2034, 5, 10, 12, tzinfo=BUSINESS_TZ)
SERVICE_MANAGER = Actor(id="csm-1", role=Role.CUSTOMER_SERVICE_MANAGER)


service = reporting_at(NOW)


async def alerts_about(
    nc: NATS, settings: Settings, service: ReportingService, request_: Requester, ev: Events, *customers: str
) -> list[dict[str, Any]]:
    await consumed(nc, settings, service, ev)
    reply = await request_("reporting", "query", "alerts", {})
    assert reply["ok"], reply
    return [a for a in reply["result"]["alerts"] if a.get("customer_id") in customers]


def reserved(ev: Events, cid: str, expires_at: datetime, amount: str = "2000.00") -> str:
    hid = str(uuid.uuid4())
    data = {
        "customer_id": cid,
        "product_code": "P-1",
        "quantity": 5,
        "amount": amount,
        "expires_at": expires_at.isoformat(),
        "deposit_required": "200.00",
    }
    ev.make("orders", "Reservation", hid, "OrderReserved", NOW - timedelta(days=1), data)
    return hid


async def test_r12_a_hold_expiring_within_24_hours_is_an_alert_until_converted_or_expired(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2034, 1, 2), region="R12H", code="R12H-D0001")
    soon = reserved(ev, dealer, NOW + timedelta(hours=5), "2000.00")
    last_minute = reserved(ev, dealer, NOW + timedelta(hours=24), "300.00")
    reserved(ev, dealer, NOW + timedelta(hours=25))  # not yet within the day
    reserved(ev, dealer, NOW - timedelta(minutes=1))  # already lapsed, waiting for the scheduler
    converted = reserved(ev, dealer, NOW + timedelta(hours=2))
    ev.make(
        "orders",
        "Reservation",
        converted,
        "ReservationConverted",
        NOW - timedelta(hours=1),
        {"customer_id": dealer, "order_id": str(uuid.uuid4()), "deposit_applied": "200.00"},
    )
    expired = reserved(ev, dealer, NOW + timedelta(hours=3))
    ev.make(
        "orders",
        "Reservation",
        expired,
        "ReservationExpired",
        NOW - timedelta(hours=1),
        {"customer_id": dealer, "deposit_credited": "200.00"},
        SYSTEM,
    )

    found = await alerts_about(nc, settings, service, request_, ev, dealer)

    assert [
        (a["alert"], a["rule"], a["hold_id"], a["amount"], datetime.fromisoformat(a["deadline"]))
        for a in found
    ] == [
        ("hold_expiring", "O9", soon, "2000.00", NOW + timedelta(hours=5)),
        ("hold_expiring", "O9", last_minute, "300.00", NOW + timedelta(hours=24)),
    ]
    assert {a["code"] for a in found} == {"R12H-D0001"}


async def test_r12_complaints_feedback_and_service_requests_past_their_deadline_are_alerts_until_finished(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2034, 1, 2), region="R12P", code="R12P-D0001")
    late = ev.complaint(dealer, NOW - timedelta(days=9), staff="sp-r12")
    closed = ev.complaint(dealer, NOW - timedelta(days=9), staff="sp-r12")
    for complaint in (late, closed):
        ev.complaint_overdue(complaint, dealer, NOW - timedelta(days=2), NOW - timedelta(days=2), "sp-r12")
    ev.make(
        "complaints",
        "Complaint",
        closed,
        "ComplaintClosed",
        NOW - timedelta(hours=1),
        {"customer_id": dealer},
    )

    feedback, answered = str(uuid.uuid4()), str(uuid.uuid4())
    for fid in (feedback, answered):
        day_ago = NOW - timedelta(days=1)
        ev.overdue(
            "Feedback",
            fid,
            day_ago,
            "answer",
            day_ago,
            responsible="sp-r12",
            major=False,
            kind="suggestion",
            customer_id=dealer,
        )
    ev.make("complaints", "Feedback", answered, "FeedbackAnswered", NOW, {"customer_id": dealer})

    request = str(uuid.uuid4())
    three_days_ago = NOW - timedelta(days=3)
    ev.overdue(
        "ServiceRequest",
        request,
        three_days_ago,
        "schedule",
        three_days_ago,
        technician_id="tech-r12",
        kind="repair",
        customer_id=dealer,
        region="R12P",
    )

    found = await alerts_about(nc, settings, service, request_, ev, dealer)

    assert [
        (a["alert"], a["rule"], a.get("complaint_id") or a.get("feedback_id") or a.get("service_request_id"))
        for a in found
    ] == [
        ("complaint_overdue", "P7", late),
        ("feedback_overdue", "P8", feedback),
        ("service_request_overdue", "P9", request),
    ]
    assert [(a["stage"], a["responsible"], datetime.fromisoformat(a["deadline"])) for a in found] == [
        ("resolve", "vp-1", NOW - timedelta(days=2)),
        ("answer", "sp-r12", NOW - timedelta(days=1)),
        ("schedule", "tech-r12", NOW - timedelta(days=3)),
    ]


def overdue(ev: Events, kind: str, subject: str, cid: str, stage: str, when: datetime) -> None:
    """The complaints service's overdue event of a complaint or feedback missing its ``stage`` deadline."""
    ev.overdue(kind, subject, when, stage, when, assigned_to="sm-1", customer_id=cid)


async def test_p7_p8_a_missed_acknowledgement_is_an_alert_only_until_it_is_acknowledged(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2034, 1, 2), region="R12A", code="R12A-D0001")
    waiting, handled, late_again = (ev.complaint(dealer, NOW - timedelta(days=9)) for _ in range(3))
    for complaint in (waiting, handled, late_again):
        overdue(ev, "Complaint", complaint, dealer, "acknowledge", NOW - timedelta(days=8))
    for complaint in (handled, late_again):  # P7: acknowledged late, neither resolved nor closed
        ev.make(
            "complaints",
            "Complaint",
            complaint,
            "ComplaintAcknowledged",
            NOW - timedelta(days=7),
            {"customer_id": dealer},
        )
    overdue(ev, "Complaint", late_again, dealer, "resolve", NOW - timedelta(days=2))
    unacknowledged, acknowledged = str(uuid.uuid4()), str(uuid.uuid4())
    for fid in (unacknowledged, acknowledged):  # P8: a major feedback the general manager saw late
        overdue(ev, "Feedback", fid, dealer, "escalation", NOW - timedelta(days=2))
    gm, seen = Actor(id="gm-1", role=Role.GENERAL_MANAGER), {"customer_id": dealer, "notes": "seen"}
    ev.make("complaints", "Feedback", acknowledged, "FeedbackEscalationAcknowledged", NOW, seen, gm)

    found = await alerts_about(nc, settings, service, request_, ev, dealer)

    assert sorted((a.get("complaint_id") or a.get("feedback_id"), a["stage"]) for a in found) == sorted(
        [(waiting, "acknowledge"), (late_again, "resolve"), (unacknowledged, "escalation")]
    )
