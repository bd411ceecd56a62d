"""Reporting over HTTP (token-protected reads, OpenAPI) and the ops dashboard in headless Chromium."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from nats.aio.client import Client as NATS

from services.reporting.main import ReportingService
from shared.settings import Settings
from tests.conftest import Requester, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

TOKEN = "test-reporting-token-0123456789"
IDS: dict[str, str] = {}
SCREENSHOT = Path(tempfile.gettempdir()) / "salesops-reporting-dashboard.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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
    async with reporting_running(settings, http_token=TOKEN, http_port=0) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield service, f"http://127.0.0.1:{service.http_port}"


async def get(url: str, token: str | None = TOKEN, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.get(url, params=params, headers=headers)


async def test_http_reads_need_the_token(running: tuple[ReportingService, str]) -> None:
    _, base = running
    url = f"{base}/api/reports/distributor-monthly"
    missing = await get(url, None, period="2026-11")
    wrong = await get(url, "not-the-token-at-all", period="2026-11")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "rows" not in missing.text
    assert (await get(f"{base}/api/audit/{IDS['dealer']}", None)).status_code == 401
    assert (await get(f"{base}/dashboard", None)).status_code == 401  # the sign-in page, no figures
    assert "EAST-D0042" not in (await get(f"{base}/dashboard", None)).text


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


@pytest.mark.skipif(CHROMIUM is None, reason="needs a chromium binary (Debian package chromium)")
async def test_dashboard_in_headless_chromium_asks_for_the_token_and_works_offline(
    running: tuple[ReportingService, str],
) -> None:
    playwright = pytest.importorskip("playwright.async_api")
    async_playwright = playwright.async_playwright

    _, base = running
    requested: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = await browser.new_page()

            def seen(request: Any) -> None:
                requested.append(request.url)

            page.on("request", seen)
            await page.goto(f"{base}/dashboard?period=2026-11")
            assert await page.locator("#token").count() == 1  # it asks for the token
            await page.fill("#token", "wrong-token-wrong-token")
            await page.click("button[type=submit]")
            assert "wrong token" in await page.content()
            await page.fill("#token", TOKEN)
            await page.click("button[type=submit]")
            await page.goto(f"{base}/dashboard?period=2026-11")
            dealer_row = page.locator(f"tr#d-{IDS['dealer']}")
            cells = await dealer_row.locator("td").all_inner_texts()
            assert cells[1:7] == ["EAST-D0042", f"dealer {IDS['dealer'][:6]}", "dealer", "EAST", "A", "1"]
            assert cells[7] == "300.00" and cells[10] == "100.00" and cells[13] == "150.00"
            branch_cells = await page.locator(f"tr#b-{IDS['branch']}").locator("td").all_inner_texts()
            assert branch_cells[0] == "EAST-B0001" and branch_cells[4] == "1000.00"
            headings = await page.locator("h2").all_inner_texts()
            assert [h for h in headings if "(R" in h] == [
                "Distributors (R2)",
                "Branches (R3)",
                "Monthly review (R8)",
                "Key customers (R4)",
                "Regions (R5)",
                "Staff (R7)",
            ]
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            await page.goto(f"{base}/dashboard/audit?aggregate_id={IDS['complaint']}")
            assert "PenaltyIssued" in await page.inner_text("table")
        finally:
            await browser.close()
    # Offline: every request the page made went to the service itself (no CDN, no external font).
    assert requested and {urlparse(u).netloc for u in requested} == {urlparse(base).netloc}


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
