"""S4 deadlines against real PostgreSQL and NATS: the scan started by main's ``extra`` hook raises an
urgent report's passed deadline by itself, once, and a restarted service does not raise it again."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NATS

from services.field import commands as c
from services.field.api import register
from services.field.application import SYSTEM, FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory
from services.field.main import background
from shared.clock import FixedClock
from shared.errors import Forbidden, InvalidState
from shared.settings import Settings
from tests.conftest import Requester, service_running
from tests.integration.deadlines_kit import Events, Stream, nothing_raised, scanning_fast, settle_on
from tests.integration.test_field import SALES, SALES_MANAGER, ok, report, stream_events

pytestmark = pytest.mark.integration

T0 = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def events(nc: NATS, settings: Settings) -> Stream:
    return functools.partial(stream_events, nc, settings)


def overdue(events: Events) -> list[str]:
    return sorted(e["aggregate_id"] for e in events if e["event_type"] == "MarketReportOverdue")


async def test_s4_urgent_report_overdue_raised_by_itself_once_and_survives_restart(
    settings: Settings, events: Stream, request_: Requester
) -> None:
    fast = scanning_fast(settings, "field", "intelligence_deadline_check_seconds")
    clock = FixedClock(T0)
    app = FieldApplication(fast, clock, InMemoryCustomerDirectory())
    async with service_running(app, register, fast, extra=background):
        late = (await ok(request_, "report_market_intelligence", report(True, "price war")))["report_id"]
        acked = (await ok(request_, "report_market_intelligence", report(True, "new rival")))["report_id"]
        await ok(request_, "report_market_intelligence", report(False, "routine"))
        await ok(request_, "acknowledge_market_report", {"actor": SALES_MANAGER, "report_id": acked})

        clock.advance(timedelta(hours=23))  # within the day: nothing is late yet
        await nothing_raised(events, overdue)

        clock.advance(timedelta(hours=2))
        now = await settle_on(events, overdue, [late])
        [event] = [e for e in now if e["event_type"] == "MarketReportOverdue"]
        assert event["data"]["deadline"].startswith("2027-03-03T02:00:00")
        assert event["data"]["reported_by"] == SALES["id"] and event["actor"] == {
            "id": SYSTEM.id,
            "role": "system",
        }

    # A new process on the same store, days later: nothing is raised again.
    clock.advance(timedelta(days=3))
    again = FieldApplication(fast, clock, InMemoryCustomerDirectory())
    async with service_running(again, register, fast, extra=background):
        await asyncio.sleep(1.0)
        assert overdue(await events()) == [late]
        found = await ok(request_, "get_market_report", {"report_id": late}, kind="query")
        assert found["overdue"] is True
        with pytest.raises(InvalidState) as error:
            again.raise_report_overdue(c.RaiseReportOverdue(actor=SYSTEM, report_id=late))
        assert error.value.rule == "S4"
        by_hand = c.RaiseReportOverdue.model_validate({"actor": SALES_MANAGER, "report_id": acked})
        with pytest.raises(Forbidden) as refused:
            again.raise_report_overdue(by_hand)
        assert refused.value.rule == "S4"
