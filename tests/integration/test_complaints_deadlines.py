"""P7 deadlines against real PostgreSQL and NATS: the scheduler started by main's ``extra`` hook raises
each passed deadline by itself, once, and a restarted service does not raise it again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import pytest
from nats.aio.client import Client as NATS

from services.complaints import commands as c
from services.complaints.application import SYSTEM, ComplaintsApplication
from services.complaints.scopes import SCHEMA as COMPLAINTS_VIEW
from shared.clock import FixedClock
from shared.customer_directory import PostgresCustomerDirectory
from shared.database import ensure_database
from shared.errors import Forbidden, InvalidState
from shared.settings import Settings
from tests.builders import SALES_MANAGER, VP
from tests.conftest import Requester
from tests.integration.complaints_kit import T0, ok, stream_events
from tests.integration.deadlines_kit import Events, Stream, complaints_scanning, nothing_raised, settle_on
from tests.integration.test_complaints import quality_complaint, service_complaint

pytestmark = pytest.mark.integration


@pytest.fixture
def events(nc: NATS, settings: Settings) -> Stream:
    return functools.partial(stream_events, nc, settings)


def overdue_of(among: set[str]) -> Callable[[Events], list[tuple[str, str]]]:
    """The overdue raised for these complaints (the module's other tests raise theirs on the same store)."""
    return lambda events: sorted(
        (e["aggregate_id"], e["data"]["stage"])
        for e in events
        if e["event_type"] == "ComplaintOverdue" and e["aggregate_id"] in among
    )


async def test_p7_overdue_raised_by_itself_once_and_survives_restart(
    settings: Settings, events: Stream, request_: Requester
) -> None:
    clock = FixedClock(T0)
    async with complaints_scanning(settings, clock):
        late = (await ok(request_, "log_complaint", service_complaint("sp-late")))["complaint_id"]
        acked = (await ok(request_, "log_complaint", quality_complaint()))["complaint_id"]
        closed = (await ok(request_, "log_complaint", service_complaint("sp-fast")))["complaint_id"]
        overdue = overdue_of({late, acked, closed})
        await ok(request_, "acknowledge_complaint", {"complaint_id": acked, "actor": SALES_MANAGER})
        for name, body in (
            ("verify_complaint", {"valid": False}),
            ("inform_customer", {"satisfaction": "satisfied"}),
            ("close_complaint", {}),
        ):
            await ok(request_, name, {"complaint_id": closed, "actor": VP} | body)

        clock.advance(timedelta(hours=23))  # within a day: nothing is late yet
        await nothing_raised(events, overdue)

        clock.advance(timedelta(hours=2))  # 25 h after logging: only the unacknowledged one is late
        now = await settle_on(events, overdue, [(late, "acknowledge")])
        [raised] = [e for e in now if e["event_type"] == "ComplaintOverdue" and e["aggregate_id"] == late]
        assert raised["data"]["deadline"].startswith("2026-11-21T02:00:00")
        assert raised["data"]["staff_id"] == "sp-late" and raised["data"]["customer_id"] == "cust-1"
        assert raised["actor"] == {"id": SYSTEM.id, "role": "system"}

    # A new process on the same store, 8 days after logging: the resolve deadlines are due, once each.
    clock.set(T0 + timedelta(days=8))
    async with complaints_scanning(settings, clock) as running:
        again: ComplaintsApplication = running.app
        expected = sorted([(late, "acknowledge"), (late, "resolve"), (acked, "resolve")])
        await settle_on(events, overdue, expected)
        form = await ok(request_, "get_handling_form", {"complaint_id": late}, kind="query")
        assert form["record"]["overdue"] == ["acknowledge", "resolve"]

        # the aggregate itself refuses a second raise, and one not yet due
        with pytest.raises(InvalidState) as error:
            again.raise_overdue(c.RaiseOverdue(actor=SYSTEM, complaint_id=late, stage="resolve"))
        assert error.value.rule == "P7"
        fresh = (await ok(request_, "log_complaint", service_complaint("sp-new")))["complaint_id"]
        with pytest.raises(InvalidState) as error:
            again.raise_overdue(c.RaiseOverdue(actor=SYSTEM, complaint_id=fresh, stage="acknowledge"))
        assert error.value.rule == "P7"


async def test_p7_only_the_system_raises_a_deadline(settings: Settings) -> None:
    ensure_database(settings, ["complaints"])
    clock = FixedClock(T0)
    app = ComplaintsApplication(settings, clock, PostgresCustomerDirectory(settings, COMPLAINTS_VIEW))
    try:
        logged = app.log_complaint(c.LogComplaint.model_validate(service_complaint("sp-role")))
        clock.advance(timedelta(days=2))
        by_hand = {"actor": VP, "complaint_id": logged["complaint_id"], "stage": "acknowledge"}
        with pytest.raises(Forbidden) as refused:
            app.raise_overdue(c.RaiseOverdue.model_validate(by_hand))
        assert refused.value.rule == "P7"
        assert app.scan_overdue() == 1
        assert app.scan_overdue() == 0
    finally:
        app.close()
