"""The dashboard a sales-operations manager works from, in headless Chromium and over plain HTTP: sign in,
overview (KPI tiles, trend chart), filter, drill down to a customer and its audit trail, alerts linking to
their subjects, CSV/XLSX export, previous/next period keeping "as of", zh-CN and English."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from nats.aio.client import Client as NATS
from openpyxl import load_workbook

from shared.identity.tokens import Grant
from shared.settings import Settings
from shared.subjects import dead_letter_subject
from tests.conftest import CREDENTIALS, wait_for
from tests.integration.reporting_kit import SYSTEM, Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

# A company-wide reader who may also read the audit trail (sessions.REPORT_READERS, AUDIT_READERS).
TOKEN = CREDENTIALS.token("gm-zhou", Grant("general_manager"))
SIGNED_IN = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IDS: dict[str, str] = {}
NOVEMBER = "2026-11"


@pytest.fixture(scope="module")
async def base(nc: NATS, settings: Settings) -> AsyncIterator[str]:
    ev = Events()
    dealer = IDS["dealer"] = ev.customer(at(2026, 10, 2), kind="dealer", code="EAST-D0042", grade="A")
    IDS["agent"] = ev.customer(at(2026, 10, 2), kind="agent", region="NORTH", code="NORTH-A0007", grade="B")
    ev.customer(at(2026, 10, 2), kind="branch", code="EAST-B0001", capital_limit="9000.00")
    IDS["tight"] = ev.customer(at(2026, 10, 2), kind="branch", code="EAST-B0002", capital_limit="500.00")
    IDS["order"] = ev.order(dealer, at(2026, 11, 10), [("P-1", 3, "100.00")])
    ev.order(IDS["agent"], at(2026, 10, 12), [("P-1", 2, "100.00")])
    IDS["hold"] = ev.hold(dealer, at(2026, 11, 11), "1000.00", "100.00")
    IDS["complaint"] = ev.complaint(dealer, at(2026, 11, 12), "service", fine="150.00")
    ev.order(IDS["tight"], at(2026, 11, 13), [("P-1", 10, "100.00")], kind="branch")
    closed = ev.complaint(IDS["agent"], at(2026, 11, 12), "service")
    ev.make(
        "complaints", "Complaint", closed, "ComplaintClosed", at(2026, 11, 20), {"customer_id": IDS["agent"]}
    )
    # P7: the dealer's complaint missed its deadline and is not closed (an alert of R12).
    ev.make(
        "complaints",
        "Complaint",
        IDS["complaint"],
        "ComplaintOverdue",
        at(2026, 11, 20),
        {
            "stage": "resolve",
            "deadline": at(2026, 11, 19).isoformat(),
            "assigned_to": "vp-1",
            "complaint_type": "service",
            "customer_id": dealer,
            "order_id": None,
            "staff_id": "sp-1",
        },
        SYSTEM,
    )
    field_plans(ev)
    async with reporting_running(settings, http=True, http_port=0) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield f"http://127.0.0.1:{service.http_port}"


def field_plans(ev: Events) -> None:
    """S1–S3 for 2026: company 2,000 / EAST 1,500 / sp-1 1,000 a month (November's net sales: 1,300), a
    visit plan for the dealer made half, an approved expense claim in EAST."""
    months = ["2000.00"] * 12
    ev.make(
        "field",
        "CompanyTarget",
        "ct-2026",
        "CompanyTargetApproved",
        at(2026, 1, 5),
        {"year": 2026, "months": months},
    )
    region = {"year": 2026, "region": "EAST", "months": ["1500.00"] * 12}
    ev.make("field", "RegionPlan", "rp-2026-east", "RegionPlanApproved", at(2026, 1, 6), region)
    for month in (10, 11):
        targets = {"year": 2026, "month": month, "region": "EAST", "targets": {"sp-1": "1000.00"}}
        ev.make(
            "field", "RegionPlan", f"sp-2026-{month}", "SalespersonTargetsApproved", at(2026, 1, 7), targets
        )
    plan = {"salesperson_id": "sp-1", "month": NOVEMBER, "planned": {IDS["dealer"]: 2}}
    ev.make("field", "VisitMonth", "vm-sp-1-11", "VisitsPlanned", at(2026, 10, 30), plan)
    visit = {"salesperson_id": "sp-1", "month": NOVEMBER, "customer_id": IDS["dealer"], "counted": True}
    ev.make("field", "VisitMonth", "vm-sp-1-11", "VisitLogged", at(2026, 11, 14), visit)
    budget = {"region": "EAST", "year": 2026, "amount": "12000.00"}
    ev.make("field", "ExpenseBudget", "eb-2026-east", "ExpenseBudgetApproved", at(2026, 1, 8), budget)
    feedback = {"customer_id": IDS["dealer"], "kind": "suggestion", "assigned_to": "sp-1", "major": False}
    ev.make("complaints", "Feedback", "fb-1", "FeedbackLogged", at(2026, 11, 15), feedback)
    claim = {"region": "EAST", "spent_on": "2026-11-14", "amount": "130.00", "over_budget": False}
    ev.make("field", "ExpenseClaim", "ec-1", "ExpenseClaimApproved", at(2026, 11, 16), claim)


async def get(url: str, *, signed_in: bool = True, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(headers=SIGNED_IN if signed_in else {}) as client:
        return await client.get(url, params=params)


async def test_pages_ask_to_sign_in_first(base: str) -> None:
    for path in (
        "/dashboard",
        "/dashboard/distributors",
        f"/dashboard/customer/{IDS['dealer']}",
        "/dashboard/ops",
    ):
        answer = await get(base + path, signed_in=False, period=NOVEMBER)
        assert answer.status_code == 401 and 'id="token"' in answer.text and "EAST-D0042" not in answer.text


async def test_bad_period_as_of_or_id_is_a_page_saying_so_not_a_500(base: str) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/dashboard", {"period": "0000-01"}, "period must be YYYY-MM"),
        ("/dashboard/distributors", {"period": "2026-13"}, "period must be YYYY-MM"),
        ("/dashboard/branches", {"period": "2026-+1"}, "period must be YYYY-MM"),
        ("/dashboard/staff", {"period": NOVEMBER, "as_of": "9999-12-31T23:59:59+00:00"}, "as-of must be"),
        ("/dashboard/regions", {"period": NOVEMBER, "as_of": "2026-11-20T00:00:00"}, "as-of must be"),
        ("/dashboard/annual", {"year": "0"}, "year must be"),
        ("/dashboard/annual", {"year": "2300"}, "a query parameter is not valid"),  # R6: 1900–2199
        ("/dashboard/audit", {"aggregate_id": "x" * 200}, "an id, code or name is 1–100"),
        ("/dashboard/audit", {"aggregate_id": "abc\x00def"}, "an id, code or name is 1–100"),
        ("/dashboard/customer", {"q": "x" * 200}, "an id, code or name is 1–100"),
    ]
    for path, params, problem in cases:
        answer = await get(base + path, lang="en", **params)
        assert answer.status_code == 422, (path, params, answer.status_code)
        assert problem in answer.text, (path, params)
    assert "期间须为 YYYY-MM" in (await get(f"{base}/dashboard", period="2026-00")).text


async def test_overview_tiles_show_the_period_in_yuan_with_its_trend(base: str) -> None:
    page = (await get(f"{base}/dashboard", period=NOVEMBER)).text
    # November's net sales: the dealer's 300 and the tight branch's 1,000; October had the agent's 200.
    assert "11月" in page and "10月29日–11月28日" in page
    tile = page.split('id="kpi-net-sales"')[1].split('id="kpi-orders"')[0]
    assert "¥1,300.00" in tile and "¥200.00" in tile and "+550.0%" in tile
    assert 'id="kpi-holds"><div class="s">有效预留</div><div class="v">1<' in page
    assert 'id="kpi-complaints"><div class="s">未结投诉</div><div class="v">1<' in page  # one closed
    assert page.count('<rect class="bar') == 13 and "<script" not in page
    assert "事件消费进度" not in page  # the technical table moved to the operations page
    # As of the day before the hold and the complaint (both on 11 November): neither was there yet.
    before = (await get(f"{base}/dashboard", period=NOVEMBER, as_of="2026-11-11T00:00:00+08:00")).text
    assert 'id="kpi-holds"><div class="s">有效预留</div><div class="v">0<' in before
    assert 'id="kpi-complaints"><div class="s">未结投诉</div><div class="v">0<' in before
    # As of the 15th, both complaints were open (the agent's was closed on the 20th).
    both = (await get(f"{base}/dashboard", period=NOVEMBER, as_of="2026-11-15T00:00:00+08:00")).text
    assert 'id="kpi-complaints"><div class="s">未结投诉</div><div class="v">2<' in both


async def test_customer_found_by_code_or_name_as_well_as_id(base: str) -> None:
    for text in ("east-d0042", "EAST-D0042", IDS["dealer"], f"dealer {IDS['dealer'][:6]}"):
        async with httpx.AsyncClient(headers=SIGNED_IN) as client:
            answer = await client.get(f"{base}/dashboard/customer", params={"q": text})
        assert (
            answer.status_code == 303 and answer.headers["location"] == f"/dashboard/customer/{IDS['dealer']}"
        )
    missing = await get(f"{base}/dashboard/customer", q="NO-SUCH-CODE")
    assert missing.status_code == 404 and "未找到" in missing.text
    by_code = await get(f"{base}/dashboard/customer/EAST-D0042", period=NOVEMBER)
    assert by_code.status_code == 200 and IDS["order"] in by_code.text and IDS["complaint"] in by_code.text


async def test_every_customer_table_filters_by_region_salesperson_kind_and_grade(base: str) -> None:
    # Key customers (R4) name no grade or salesperson themselves: the dashboard adds the customer's.
    page = (await get(f"{base}/dashboard/key-customers", period=NOVEMBER)).text
    for name in ("region", "salesperson", "kind", "grade"):
        assert f'id="filter-by_sales-{name}"' in page
    graded = await get(f"{base}/dashboard/key-customers", period=NOVEMBER, grade="A", format="csv")
    rows = list(csv.reader(io.StringIO(graded.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["EAST-D0042"]  # the branch (grade B) left out
    owed = await get(f"{base}/dashboard/receivables", salesperson="sp-9", format="csv")
    assert len(owed.content.decode("utf-8-sig").splitlines()) == 1  # headings only: nobody's customer


async def test_tables_sort_by_a_column_either_way(base: str) -> None:
    async def codes(**params: Any) -> list[str]:
        answer = await get(f"{base}/dashboard/distributors", period=NOVEMBER, format="csv", **params)
        return [r[1] for r in list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))[1:]]

    # November: the dealer ordered 300, the agent nothing (its order was in October).
    assert await codes(sort="ordered_amount", desc="1") == ["EAST-D0042", "NORTH-A0007"]
    assert await codes(sort="ordered_amount") == ["NORTH-A0007", "EAST-D0042"]
    assert await codes(sort="code", desc="1") == ["NORTH-A0007", "EAST-D0042"]
    page = (await get(f"{base}/dashboard/distributors", period=NOVEMBER, sort="ordered_amount")).text
    assert "订货额 ▲" in page  # the heading shows the order


async def test_alerts_link_to_their_subject(base: str) -> None:
    page = (await get(f"{base}/dashboard/alerts", lang="en")).text
    assert "Over the capital limit" in page and f'href="/dashboard/customer/{IDS["tight"]}"' in page
    assert "Period not signed off" in page and 'href="/dashboard/review?period=2026-10"' in page
    # R12 rev 2: the complaint past its deadline opens the complaint's audit trail.
    row = next(r for r in page.split("<tr") if "Complaint past its deadline" in r)
    assert "P7" in row and f'href="/dashboard/audit?aggregate_id={IDS["complaint"]}"' in row


async def test_r11_targets_page_shows_company_regions_and_salespeople_per_month_quarter_and_year(
    base: str,
) -> None:
    async def table(name: str, **params: Any) -> list[list[str]]:
        answer = await get(f"{base}/dashboard/targets", period=NOVEMBER, format="csv", table=name, **params)
        return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))

    company = await table("company", lang="en")
    assert company == [
        ["Unit", "Target", "Net sales", "Attainment", "Gap"],
        ["Company", "2000.00", "1300.00", "65.0", "700.00"],
    ]
    # NORTH has no target: its figures without attainment or gap.
    assert (await table("target_regions"))[1:] == [
        ["EAST", "1500.00", "1300.00", "86.7", "200.00"],
        ["NORTH", "", "0.00", "", ""],
    ]
    assert (await table("target_salespeople"))[1:] == [
        ["sp-1", "EAST", "1000.00", "1300.00", "130.0", "-300.00"]
    ]
    # The quarter Oct–Dec: three months of company target, October's 200 and November's 1,300 sold.
    quarter = await table("company", span="quarter")
    assert quarter[1][1:] == ["6000.00", "1500.00", "25.0", "4500.00"]
    assert (await table("target_salespeople", span="quarter"))[1][2:5] == ["2000.00", "1500.00", "75.0"]
    assert (await table("company", span="year"))[1][1] == "24000.00"
    assert len(await table("target_salespeople", salesperson="sp-9")) == 1  # headings only
    page = (await get(f"{base}/dashboard/targets", period=NOVEMBER, span="quarter")).text
    assert "目标达成" in page and 'id="months">季度: 2026-10 – 2026-12' in page
    assert '<option value="quarter" selected>' in page
    month = (await get(f"{base}/dashboard/targets", period=NOVEMBER)).text
    assert "86.7%" in month and 'id="months">月度: 2026-11<' in month
    assert 'href="/dashboard/targets' in page  # in the navigation
    bad = await get(f"{base}/dashboard/targets", period=NOVEMBER, span="week", lang="en")
    assert bad.status_code == 422 and "span must be month, quarter or year" in bad.text
    xlsx = await get(f"{base}/dashboard/targets", period=NOVEMBER, format="xlsx", table="target_regions")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[2]] == ["EAST", 1500, 1300, 86.7, 200]
    assert sheet.cell(2, 4).number_format == '0.0"%"'


async def test_r13_p8_visits_expenses_and_service_pages_show_their_figures(base: str) -> None:
    async def rows(path: str, table: str, **params: Any) -> list[list[str]]:
        answer = await get(f"{base}/dashboard/{path}", period=NOVEMBER, format="csv", table=table, **params)
        return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))

    # S2: two visits planned to the dealer, one made.
    assert (await rows("visits", "visit_salespeople"))[1:] == [["sp-1", "2", "1", "1", "1", "50.0"]]
    assert (await rows("visits", "visit_regions"))[1:] == [["EAST", "2", "1", "1", "1", "50.0"]]
    # S3: 130 spent on 1,300 sold in EAST: an expense ratio of 10 %.
    expenses = await rows("expenses", "expenses", lang="en")
    assert expenses[0][5] == "Expense ratio" and expenses[1][:6] == [
        "EAST",
        "130.00",
        "1",
        "0",
        "1300.00",
        "0.1000",
    ]
    assert expenses[1][6] == "12000.00"
    page = (await get(f"{base}/dashboard/expenses", period=NOVEMBER)).text
    assert "销售费用" in page and "10.0%" in page
    # P8: the dealer's suggestion counts in EAST and for the salesperson it was assigned to.
    assert (await rows("service", "service_regions"))[1:] == [["EAST", "1", "建议 1", "0", "0", "0", "", "0"]]
    assert (await rows("service", "service_staff", salesperson="sp-1"))[1:] == [["sp-1", "1", "0", "0", "0"]]
    service = (await get(f"{base}/dashboard/service", period=NOVEMBER, lang="en")).text
    assert "<h1>Service</h1>" in service and "By staff member" in service


async def test_every_table_exports_as_csv_and_xlsx_with_the_filters_applied(base: str) -> None:
    answer = await get(f"{base}/dashboard/distributors", period=NOVEMBER, kind="agent", format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][1] == "编码" and [r[1] for r in rows[1:]] == ["NORTH-A0007"]
    xlsx = await get(f"{base}/dashboard/key-customers", period=NOVEMBER, format="xlsx", table="by_sales")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["EAST-B0002", "EAST-D0042"]
    ops = await get(f"{base}/dashboard/ops", format="csv", lang="en")
    assert ops.content.decode("utf-8-sig").splitlines()[0] == "Source,Position,Events,Updated"


async def consumers_shown(base: str) -> dict[str, dict[str, str]]:
    answer = await get(f"{base}/dashboard/ops", format="csv", table="consumers", lang="en")
    return {r["Consumer"]: r for r in csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")))}


async def test_operations_page_shows_each_consumers_lag_and_dead_letters_and_alerts_on_them(
    base: str, nc: NATS, settings: Settings
) -> None:
    shown = await consumers_shown(base)
    # Every source's durable, all of the fixture's events consumed.
    assert {r["Source"].rsplit("_", 1)[-1] for r in shown.values()} >= {"CUSTOMERS", "ORDERS", "COMPLAINTS"}
    assert {r["Pending"] for r in shown.values()} == {"0"}
    assert "消费者积压与死信" in (await get(f"{base}/dashboard/ops")).text
    # A message parked by the complaints consumer, as DurableConsumer parks one, shows there and alerts.
    durable = next(name for name, r in shown.items() if r["Source"].endswith("_COMPLAINTS"))
    before = int(shown[durable]["Dead letters"])
    headers = {
        "Salesops-Consumer": durable,
        "Salesops-Error": "cannot project",
        "Nats-Msg-Id": durable + "-x",
    }
    await nc.jetstream().publish(dead_letter_subject(settings.namespace, durable), b"{}", headers=headers)
    assert int((await consumers_shown(base))[durable]["Dead letters"]) == before + 1
    alerts = (await get(f"{base}/dashboard/alerts", lang="en")).text
    row = next(r for r in alerts.split("<tr") if ">Dead letters<" in r)
    assert durable in row and 'href="/dashboard/ops"' in row and f">{before + 1}<" in row


@pytest.mark.skipif(CHROMIUM is None, reason="needs a chromium binary (Debian package chromium)")
async def test_manager_signs_in_filters_drills_down_exports_and_switches_language_in_chromium(
    base: str, tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.async_api")
    requested: list[str] = []
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = await browser.new_context(
                accept_downloads=True, viewport={"width": 1400, "height": 900}
            )
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))

            async def shot(name: str) -> None:
                await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

            # Sign in: the page asks for the token, says so when it is wrong.
            await page.goto(f"{base}/dashboard?period={NOVEMBER}")
            assert await page.locator("#token").count() == 1
            await page.fill("#token", "wrong-token-wrong-token")
            await page.click("button[type=submit]")
            assert "令牌不正确" in await page.inner_text("p.error")  # wrong token
            await shot("sign-in")
            await page.fill("#token", TOKEN)
            await page.click("button[type=submit]")

            # The overview, in Chinese, with its tiles and chart; previous/next keep "as of".
            as_of = "2026-12-01T00:00:00+08:00"
            await page.goto(f"{base}/dashboard?period={NOVEMBER}&as_of={as_of.replace('+', '%2B')}")
            assert await page.inner_text("h1") == "总览"
            assert "¥1,300.00" in await page.inner_text("#kpi-net-sales")
            assert await page.locator("svg.trend rect").count() == 13
            await shot("overview")
            await page.click("#next")
            moved = parse_qs(urlparse(page.url).query)
            assert moved["period"] == ["2026-12"] and moved["as_of"] == [as_of]
            await page.click("#previous")
            assert parse_qs(urlparse(page.url).query)["period"] == [NOVEMBER]

            # Distributors, filtered to dealers, sorted by amount.
            await page.click("header a[href^='/dashboard/distributors']")
            assert parse_qs(urlparse(page.url).query)["as_of"] == [as_of]
            assert await page.locator("#t-distributors tbody tr").count() == 2
            await page.select_option("#filter-distributors-kind", "dealer")
            await page.click("form.filters button[type=submit]")
            assert await page.locator("#t-distributors tbody tr").count() == 1
            cells = await page.locator(f"tr#d-{IDS['dealer']} td").all_inner_texts()
            assert cells[1:4] == ["EAST-D0042", f"dealer {IDS['dealer'][:6]}", "经销商"]
            assert cells[8] == "¥300.00" and cells[14] == "¥150.00"
            await shot("distributors-dealers")

            # Export the filtered table as CSV.
            async with page.expect_download() as download_info:
                await page.click("#distributors ~ .bar a.csv")
            download = await download_info.value
            saved = tmp_path / "distributors.csv"
            await download.save_as(saved)
            exported = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
            assert [r[1] for r in exported[1:]] == ["EAST-D0042"]

            # Drill down: the row opens the customer; its complaint opens the complaint's audit trail.
            await page.click(f"tr#d-{IDS['dealer']} a")
            assert parse_qs(urlparse(page.url).query) == {"period": [NOVEMBER], "as_of": [as_of]}
            assert "EAST-D0042" in await page.inner_text("h1")
            assert IDS["order"] in await page.inner_text("#t-orders")
            assert IDS["hold"] in await page.inner_text("#t-holds")
            await shot("customer")
            await page.click(f"#t-complaints a[href*='{IDS['complaint']}']")
            trail = await page.inner_text("#t-audit")
            assert "ComplaintLogged" in trail and "PenaltyIssued" in trail and "rude on the phone" in trail
            await shot("audit-trail")

            # Switch to English; the choice stays on the next page.
            await page.click("#lang")
            assert await page.inner_text("h1") == "Audit trail"
            await page.goto(f"{base}/dashboard/alerts")
            assert await page.inner_text("h1") == "Alerts"
            await page.click(f"a[href='/dashboard/customer/{IDS['tight']}']")
            assert "EAST-B0002" in await page.inner_text("h1")
            await shot("alert-to-customer-en")

            # R12 rev 2: the complaint past its deadline opens its audit trail.
            await page.goto(f"{base}/dashboard/alerts")
            await page.click(f"a[href='/dashboard/audit?aggregate_id={IDS['complaint']}']")
            assert "ComplaintOverdue" in await page.inner_text("#t-audit")
            await shot("alert-to-late-complaint-en")

            # R11 from the navigation, then the quarter holding November.
            await page.goto(f"{base}/dashboard?period={NOVEMBER}")
            await page.click("header a[href^='/dashboard/targets']")
            assert await page.inner_text("h1") == "Targets vs actual"
            assert "86.7%" in await page.inner_text("#t-target_regions")
            await page.select_option("#span", "quarter")
            await page.click("form:has(#span) button[type=submit]")
            assert parse_qs(urlparse(page.url).query)["span"] == ["quarter"]
            assert "25.0%" in await page.inner_text("#t-company")
            await shot("targets-quarter-en")

            # Sign out: the session ends, the pages ask for a token again.
            await page.click("#logout")
            await page.goto(f"{base}/dashboard?period={NOVEMBER}")
            assert await page.locator("#token").count() == 1
        finally:
            await browser.close()
    # Offline: every request the pages made went to the service itself (no CDN, no external font).
    assert requested and {urlparse(u).netloc for u in requested} == {urlparse(base).netloc}
    assert {p.name for p in tmp_path.glob("*.png")} >= {
        "overview.png",
        "customer.png",
        "audit-trail.png",
        "targets-quarter-en.png",
    }
