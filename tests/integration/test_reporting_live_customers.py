"""Reporting fed by the real customers service (its outbox relay publishes the envelopes): the
customer dimension and the audit trail come from real events, and the CLI prints the trail."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.customers.api import register
from services.customers.application import CustomersApplication
from services.reporting import cli
from services.reporting.main import ReportingService
from shared.clock import FixedClock
from shared.database import ensure_database
from shared.settings import Settings
from tests.builders import prospect
from tests.conftest import Requester, service_running, succeeded, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

SALES = {"id": "sp-9", "role": "salesperson"}
FINANCE = {"id": "fin-9", "role": "finance"}
SUPERVISOR = {"id": "sup-9", "role": "sales_supervisor"}
MANAGER = {"id": "mgr-9", "role": "sales_manager"}


@pytest.fixture(scope="module")
async def both(settings: Settings) -> AsyncIterator[ReportingService]:
    ensure_database(settings, ["customers"])
    app = CustomersApplication(settings, FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    async with service_running(app, register, settings), reporting_running(settings) as reporting:
        yield reporting


async def ok(request_: Requester, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return await succeeded(request_, "customers", "cmd", name, body)


async def test_r2_r10_real_customer_events_feed_the_dimension_audit_trail_and_cli(
    both: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    registered = await ok(request_, "register_prospect", prospect(actor=SALES, salesperson_id=SALES["id"]))
    cid = registered["customer_id"]
    await ok(
        request_,
        "investigate_credit",
        {"actor": FINANCE, "customer_id": cid, "rating": "good", "credit_limit": "800000"},
    )
    code = (await ok(request_, "approve_customer", {"actor": SUPERVISOR, "customer_id": cid}))["code"]
    await ok(
        request_,
        "grade_customer",
        {"actor": MANAGER, "customer_id": cid, "grade": "A", "reason": "largest buyer in the region"},
    )
    # An order of this customer (orders' events are simulated here), in the clock's period 2026-11.
    ev = Events()
    ev.order(cid, at(2026, 11, 20), [("P-1", 2, "100.00")], salesperson="sp-9")
    await publish(nc.jetstream(), settings, ev.made)

    async def graded() -> bool:
        reply = await request_(
            "reporting", "query", "distributor_monthly", {"period": "2026-11", "customer_id": cid}
        )
        rows = reply["result"]["rows"]
        return bool(rows) and rows[0]["grade"] == "A" and rows[0]["orders"] == 1

    await wait_for(graded)
    await wait_for(lambda: logged_all(both, ev.made))
    [row] = (
        await request_("reporting", "query", "distributor_monthly", {"period": "2026-11", "customer_id": cid})
    )["result"]["rows"]
    assert (row["code"], row["company_name"], row["kind"], row["region"], row["status"]) == (
        code,
        "杭州华顺贸易有限公司",
        "dealer",
        "EAST",
        "approved",
    )
    trail = (await request_("reporting", "query", "audit_trail", {"aggregate_id": cid}))["result"]["entries"]
    assert [e["event_type"] for e in trail] == [
        "CustomerRegistered",
        "CreditInvestigated",
        "CustomerApproved",
        "CustomerCodeIssued",
        "CustomerGraded",
        "OrderPlaced",
    ]
    assert trail[4]["actor"] == {"id": "mgr-9", "role": "sales_manager"}
    assert trail[4]["reason"] == "largest buyer in the region"
    out = io.StringIO()
    assert await cli.run(cli.parser().parse_args(["audit", cid]), settings, out) == 0
    printed = out.getvalue()
    assert f"audit trail of {cid}: 6 events" in printed
    assert "CustomerGraded" in printed and "by mgr-9 (sales_manager)" in printed
    assert "reason: largest buyer in the region" in printed
    out = io.StringIO()
    await cli.run(
        cli.parser().parse_args(
            ["report", "distributor_monthly", "--period", "2026-11", "--customer-id", cid]
        ),
        settings,
        out,
    )
    assert f'"code": "{code}"' in out.getvalue()
