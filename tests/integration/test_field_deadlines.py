"""S4 deadlines against real PostgreSQL and NATS: the scan started by main's ``extra`` hook raises an
urgent report's passed deadline by itself, once, and a restarted service does not raise it again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.field import commands as c
from services.field.api import register
from services.field.application import SYSTEM, FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory
from services.field.main import background
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.errors import Forbidden, InvalidState
from shared.settings import Settings
from tests.conftest import Requester, service_running, wait_for
from tests.integration.test_field import SALES, SALES_MANAGER, ok, report, stream_events

pytestmark = pytest.mark.integration

T0 = datetime(2027, 3, 2, 2, 0, tzinfo=UTC)


def overdue(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["aggregate_id"] for e in events if e["event_type"] == "MarketReportOverdue")


async def test_s4_urgent_report_overdue_raised_by_itself_once_and_survives_restart(
    settings: Settings, nc: NATS, request_: Requester
) -> None:
    ensure_database(settings, ["field"])
    fast = settings.model_copy(update={"intelligence_deadline_check_seconds": 0.2})
    clock = FixedClock(T0)
    app = FieldApplication(fast, clock, InMemoryCustomerDirectory())
    async with service_running(app, register, fast, extra=background):
        late = (await ok(request_, "report_market_intelligence", report(True, "price war")))["report_id"]
        acked = (await ok(request_, "report_market_intelligence", report(True, "new rival")))["report_id"]
        await ok(request_, "report_market_intelligence", report(False, "routine"))
        await ok(request_, "acknowledge_market_report", {"actor": SALES_MANAGER, "report_id": acked})

        clock.advance(timedelta(hours=23))  # within the day: nothing is late yet
        await asyncio.sleep(0.6)
        assert overdue(await stream_events(nc, settings)) == []

        clock.advance(timedelta(hours=2))

        async def raised() -> bool:
            return overdue(await stream_events(nc, settings)) != []

        await wait_for(raised)
        await asyncio.sleep(1.0)  # five more scans: still raised once
        events = await stream_events(nc, settings)
        assert overdue(events) == [late]
        [event] = [e for e in events if e["event_type"] == "MarketReportOverdue"]
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
        assert overdue(await stream_events(nc, settings)) == [late]
        found = await ok(request_, "get_market_report", {"report_id": late}, kind="query")
        assert found["overdue"] is True
        with pytest.raises(InvalidState) as error:
            again.raise_report_overdue(c.RaiseReportOverdue(actor=SYSTEM, report_id=late))
        assert error.value.rule == "S4"
        by_hand = c.RaiseReportOverdue.model_validate({"actor": SALES_MANAGER, "report_id": acked})
        with pytest.raises(Forbidden) as refused:
            again.raise_report_overdue(by_hand)
        assert refused.value.rule == "S4"
