"""Reporting over HTTP: reads by signed-in people, OpenAPI (the dashboard's pages: test_dashboard_pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from services.reporting.main import ReportingService
from shared.identity.tokens import Grant
from shared.settings import Settings
from tests.conftest import CREDENTIALS, Requester, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

# A company-wide reader (and, as general manager, a reader of the audit trail too).
TOKEN = CREDENTIALS.token("gm-zhou", Grant("general_manager"))
IDS: dict[str, str] = {}


@pytest.fixture(scope="module")
async def running(nc: NATS, settings: Settings) -> AsyncIterator[tuple[ReportingService, str]]:
    ev = Events()
    dealer = IDS["dealer"] = ev.customer(at(2026, 10, 2), kind="dealer", code="EAST-D0042", grade="A")
    branch = IDS["branch"] = ev.customer(
        at(2026, 10, 2), kind="branch", code="EAST-B0001", capital_limit="9000.00"
    )
    IDS["order"] = ev.order(dealer, at(2026, 11, 10), [("P-1", 3, "100.00")])
    ev.hold(dealer, at(2026, 11, 11), "1000.00", "100.00")
    IDS["complaint"] = ev.complaint(dealer, at(2026, 11, 12), "service", fine="150.00")
    ev.order(branch, at(2026, 11, 13), [("P-1", 10, "100.00")], kind="branch")
    async with reporting_running(settings, http=True, http_port=0) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield service, f"http://127.0.0.1:{service.http_port}"


async def get(url: str, token: str | None = TOKEN, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.get(url, params=params, headers=headers)


async def test_http_reads_need_a_verified_token(running: tuple[ReportingService, str]) -> None:
    _, base = running
    url = f"{base}/api/reports/distributor-monthly"
    missing = await get(url, None, period="2026-11")
    wrong = await get(url, "not-a-jwt-at-all", period="2026-11")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"]["code"] == wrong.json()["error"]["code"] == "unauthenticated"
    assert "rows" not in missing.text
    assert (await get(f"{base}/api/audit/{IDS['dealer']}", None)).status_code == 401
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{base}/dashboard", params={"period": "2026-11"})
    assert page.status_code == 401 and 'id="token"' in page.text and "EAST-D0042" not in page.text


async def test_r2_r3_over_http_equal_the_bus_answers(
    running: tuple[ReportingService, str], request_: Requester
) -> None:
    _, base = running
    for path, name in (("distributor-monthly", "distributor_monthly"), ("branch-monthly", "branch_monthly")):
        over_http = await get(f"{base}/api/reports/{path}", period="2026-11")
        on_bus = await request_("reporting", "query", name, {"period": "2026-11"})
        assert over_http.status_code == 200
        assert over_http.json() == on_bus
    branch = next(r for r in on_bus["result"]["rows"] if r["customer_id"] == IDS["branch"])
    assert (branch["orders"], branch["ordered_amount"], branch["capital_limit"]) == (1, "1000.00", "9000.00")
    bad = await get(f"{base}/api/reports/distributor-monthly", period="2026-13")
    assert bad.status_code == 422


async def test_every_report_over_http_with_openapi(running: tuple[ReportingService, str]) -> None:
    _, base = running
    schema = (await get(f"{base}/openapi.json", None)).json()
    paths = set(schema["paths"])
    reports = ["distributor-monthly", "branch-monthly", "key-customers", "regions", "staff", "monthly-review"]
    assert {f"/api/reports/{r}" for r in reports} | {
        "/api/reports/annual-statistics",
        "/api/audit/{aggregate_id}",
    } <= paths
    for report in reports:
        reply = await get(f"{base}/api/reports/{report}", period="2026-11")
        assert reply.status_code == 200 and reply.json()["ok"], (report, reply.text)
    annual = await get(f"{base}/api/reports/annual-statistics", year=2026, customer_id=IDS["dealer"])
    assert annual.json()["result"]["rows"][0]["orders"][10] == 1  # November
    as_of = await get(
        f"{base}/api/reports/distributor-monthly", period="2026-11", as_of="2026-11-10T12:00:00+08:00"
    )
    row = next(r for r in as_of.json()["result"]["rows"] if r["customer_id"] == IDS["dealer"])
    assert (row["orders"], row["holds_made"]) == (1, 0)


async def test_r10_audit_trail_over_http(running: tuple[ReportingService, str]) -> None:
    _, base = running
    trail = (await get(f"{base}/api/audit/{IDS['complaint']}", related="false")).json()["result"]
    assert [e["event_type"] for e in trail["entries"]] == [
        "ComplaintLogged",
        "ComplaintVerified",
        "PenaltyIssued",
    ]
    assert trail["entries"][1]["actor"] == {"id": "vp-1", "role": "sales_vp"}
    assert trail["entries"][1]["reason"] == "rude on the phone"


async def test_r12_receivables_ageing_and_alerts_over_http(
    running: tuple[ReportingService, str], request_: Requester
) -> None:
    _, base = running
    ageing = await get(f"{base}/api/reports/receivables", on="2026-12-20")
    on_bus = await request_("reporting", "query", "receivables", {"on": "2026-12-20"})
    alerts = await get(f"{base}/api/alerts")
    assert ageing.status_code == 200 and ageing.json() == on_bus
    rows = {r["customer_id"]: r for r in ageing.json()["result"]["rows"]}
    # The branch's accepted order of 1,000 is its whole exposure: nothing shipped, nothing owed yet.
    assert (rows[IDS["branch"]]["credit_used"], rows[IDS["branch"]]["receivable"]) == ("1000.00", "0.00")
    assert alerts.status_code == 200 and "alerts" in alerts.json()["result"]
    assert (await get(f"{base}/api/reports/receivables", None)).status_code == 401
