"""Reporting rev 2 against real PostgreSQL and NATS: net sales (R2), the one exposure measure (R3, R12),
receivables by age (R12), the history import (R14) and the period sign-off (R1).

One reporting service for the module, its clock fixed at 2031-06-30 12:00 Asia/Shanghai (period 2031-07:
the 29th onwards count for the next month); each test has customers and periods of its own.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from services.reporting import cli
from services.reporting.api import OverdueTotal, Receivables
from services.reporting.main import ReportingService
from shared.clock import BUSINESS_TZ, FixedClock
from shared.contracts import Actor
from shared.settings import Settings
from tests.conftest import Requester, wait_for
from tests.integration.reporting_kit import (
    FINANCE,
    MANAGER,
    SALES,
    Events,
    at,
    logged_all,
    publish,
    reporting_running,
)

pytestmark = pytest.mark.integration

NOW = datetime(2031, 6, 30, 12, tzinfo=BUSINESS_TZ)
HEADER = "customer_code,period,ordered_amount,shipped_amount,paid_amount,quantity\n"


@pytest.fixture(scope="module")
async def service(settings: Settings) -> AsyncIterator[ReportingService]:
    async with reporting_running(settings, clock=FixedClock(NOW)) as running:
        yield running


async def consumed(nc: NATS, settings: Settings, service: ReportingService, ev: Events) -> None:
    await publish(nc.jetstream(), settings, ev.made)
    await wait_for(lambda: logged_all(service, ev.made))
    ev.made.clear()


def rows(reply: dict[str, Any], key: str = "customer_id") -> dict[str, dict[str, Any]]:
    assert reply["ok"], reply
    return {r[key]: r for r in reply["result"]["rows"]}


def command(actor: Actor, **fields: Any) -> dict[str, Any]:
    return {"actor": actor.model_dump(mode="json"), **fields}


# ---------------------------------------------------------------- R2 rev 2: net sales


async def test_r2_a_cancelled_order_leaves_the_sales_of_the_period_it_is_cancelled_in(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2030, 1, 2), code="R2N-D0001", salesperson="sp-r2a")
    other = ev.customer(at(2030, 1, 2), code="R2N-D0002", salesperson="sp-r2b")
    ev.order(dealer, at(2030, 2, 10), [("P-1", 10, "100.00")], salesperson="sp-r2a")
    withdrawn = ev.order(dealer, at(2030, 2, 11), [("P-1", 5, "100.00")], salesperson="sp-r2a")
    ev.order_event(
        withdrawn, dealer, at(2030, 3, 5), "OrderCancelled", reason="withdrawn", status="cancelled"
    )
    ev.order(other, at(2030, 3, 6), [("P-1", 3, "100.00")], salesperson="sp-r2b")
    ev.order(dealer, at(2030, 3, 7), [("P-1", 4, "100.00")], salesperson="sp-r2a")
    await consumed(nc, settings, service, ev)

    feb = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2030-02"}))
    mar = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2030-03"}))
    staff = rows(await request_("reporting", "query", "staff", {"period": "2030-03"}), "staff_id")
    regions = rows(await request_("reporting", "query", "regions", {"period": "2030-03"}), "region")
    top = await request_("reporting", "query", "key_customers", {"period": "2030-03"})

    # February keeps what was placed in it; March carries the cancellation: 400 placed − 500 cancelled.
    assert (feb[dealer]["ordered_amount"], feb[dealer]["quantity"], feb[dealer]["cancelled_amount"]) == (
        "1500.00",
        15,
        "0.00",
    )
    assert (mar[dealer]["ordered_amount"], mar[dealer]["quantity"]) == ("-100.00", -1)
    assert (mar[dealer]["orders_cancelled"], mar[dealer]["cancelled_amount"]) == (1, "500.00")
    # Ranked by net sales: the module's other customers (no sales in March) come between, whatever ran first.
    assert (mar[other]["rank"], mar[dealer]["rank"]) == (1, len(mar))
    assert mar[dealer]["growth_vs_previous"] == "-1.0667"  # (−100 − 1500) / 1500
    assert staff["sp-r2a"]["amount"] == "-100.00"
    assert regions["EAST"]["sales_amount"] == "200.00"
    assert [(p["product_code"], p["quantity"]) for p in regions["EAST"]["products"]] == [("P-1", "2")]
    assert [r["customer_id"] for r in top["result"]["by_sales"]] == [other]


async def test_r2_a_credit_note_leaves_net_sales_of_its_period(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2030, 7, 2), code="R2R-D0001", region="R2RET", salesperson="sp-r2c")
    branch = ev.customer(
        at(2030, 7, 2), kind="branch", code="R2R-B0001", region="R2RET", salesperson="sp-r2e"
    )
    sold = ev.order(
        dealer,
        at(2030, 8, 10),
        [("P-1", 10, "100.00"), ("P-2", 2, "50.00")],
        region="R2RET",
        salesperson="sp-r2c",
    )
    ev.shipped(sold, dealer, at(2030, 8, 12), "1100.00", status="shipped")
    ev.credit_note(sold, dealer, at(2030, 9, 29), [("P-1", 3, "100.00")])  # the 29th: period 2030-10
    # An exchange books the goods back and ships replacements: no credit note, no change to sales.
    ev.order_event(sold, dealer, at(2030, 10, 2), "ReturnBooked", return_id="x-1", lines=[])
    ev.order_event(sold, dealer, at(2030, 10, 3), "ReplacementShipped", return_id="x-1", lines=[])
    ev.order(dealer, at(2030, 10, 5), [("P-1", 4, "100.00")], region="R2RET", salesperson="sp-r2c")
    # O16: a short shipment corrected by a credit note
    ev.credit_note(sold, dealer, at(2030, 10, 6), [("P-2", 1, "50.00")], source="correction")
    placed = ev.order(
        branch, at(2030, 10, 7), [("P-2", 10, "50.00")], kind="branch", region="R2RET", salesperson="sp-r2e"
    )
    ev.credit_note(placed, branch, at(2030, 10, 8), [("P-2", 2, "50.00")])
    await consumed(nc, settings, service, ev)

    query = {"period": "2030-10"}
    aug = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2030-08"}))
    oct_ = rows(await request_("reporting", "query", "distributor_monthly", query))
    branches = rows(await request_("reporting", "query", "branch_monthly", {**query, "customer_id": branch}))
    staff = rows(await request_("reporting", "query", "staff", query), "staff_id")
    regions = rows(await request_("reporting", "query", "regions", query), "region")

    # August keeps the sale; October carries both credit notes: 400 placed − 300 returned − 50 corrected.
    assert (aug[dealer]["ordered_amount"], aug[dealer]["quantity"], aug[dealer]["returned_amount"]) == (
        "1100.00",
        12,
        "0.00",
    )
    assert (oct_[dealer]["ordered_amount"], oct_[dealer]["quantity"]) == ("50.00", 0)
    assert (oct_[dealer]["credit_notes"], oct_[dealer]["returned_amount"]) == (2, "350.00")
    assert (oct_[dealer]["orders_cancelled"], oct_[dealer]["cancelled_amount"]) == (0, "0.00")
    assert (branches[branch]["ordered_amount"], branches[branch]["credit_notes"]) == ("400.00", 1)
    assert branches[branch]["returned_amount"] == "100.00"
    assert (staff["sp-r2c"]["amount"], staff["sp-r2e"]["amount"]) == ("50.00", "400.00")
    assert regions["R2RET"]["sales_amount"] == "450.00"
    assert [(p["product_code"], p["quantity"]) for p in regions["R2RET"]["products"]] == [
        ("P-1", "1"),
        ("P-2", "7"),
    ]


# ---------------------------------------------------------------- R3 / R12 rev 2: one exposure measure


async def test_r3_capital_occupied_is_every_accepted_unpaid_order_net_of_what_is_paid(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    branch = ev.customer(
        at(2030, 4, 2), kind="branch", code="R3X-B0001", region="SOUTH", capital_limit="6000.00"
    )
    when = at(2030, 5, 10)

    def order(amount: int, **options: Any) -> str:
        return ev.order(branch, when, [("P-1", amount, "1.00")], kind="branch", region="SOUTH", **options)

    shipped = order(600)
    ev.shipped(shipped, branch, when, "600.00", status="shipped")
    ev.paid(shipped, branch, when, "200.00", status="shipped")  # 400 open
    held = order(5000, status="on_hold")  # not accepted yet: not counted until released
    deposit = order(300, deposit_applied="100.00")
    ev.order_event(deposit, branch, when, "CreditApplied", amount="50.00")  # 150 open
    cancelled = order(700)
    ev.order_event(cancelled, branch, when, "OrderCancelled", reason="withdrawn", status="cancelled")
    settled = order(200)
    ev.shipped(settled, branch, when, "200.00", status="shipped")
    ev.paid(settled, branch, when, "200.00", status="paid")
    await consumed(nc, settings, service, ev)
    query = {"period": "2030-05", "customer_id": branch}
    before = rows(await request_("reporting", "query", "branch_monthly", query))[branch]

    ev.order_event(held, branch, when, "OrderReleased", rule="O7", by="md-1", status="accepted")
    await consumed(nc, settings, service, ev)
    after = rows(await request_("reporting", "query", "branch_monthly", query))[branch]
    credit = rows(await request_("reporting", "query", "receivables", {"customer_id": branch}))[branch]

    assert (before["capital_occupied"], before["over_capital_limit"]) == ("550.00", False)
    assert (after["capital_occupied"], after["over_capital_limit"]) == ("5550.00", False)
    assert (credit["credit_used"], credit["credit_limit"], credit["credit_used_share"]) == (
        "5550.00",
        "6000.00",
        "0.9250",
    )


# ---------------------------------------------------------------- R12 rev 2: receivables by age


async def test_r12_receivables_by_age_settle_the_oldest_shipment_first(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2031, 1, 2), code="R12-D0001")
    ev.make("customers", "Customer", dealer, "CreditInvestigated", at(2031, 1, 3),
            {"rating": "good", "credit_limit": "8000.00", "notes": "revised"}, FINANCE)  # fmt: skip
    oid = ev.order(dealer, at(2031, 1, 5), [("P-1", 100, "100.00")])
    for amount, due in (("1000.00", (6, 29)), ("2000.00", (5, 1)), ("3000.00", (3, 1)), ("4000.00", (7, 15))):
        ev.shipped(oid, dealer, at(2031, 1, 6), amount, due_on=datetime(2031, *due).date())
    ev.paid(oid, dealer, at(2031, 2, 1), "2500.00")  # settles 2,500 of the 3,000 due 1 March
    await consumed(nc, settings, service, ev)

    aged = rows(
        await request_("reporting", "query", "receivables", {"customer_id": dealer, "on": "2031-06-30"})
    )
    today = rows(await request_("reporting", "query", "receivables", {"customer_id": dealer}))
    alerts = await request_("reporting", "query", "alerts", {})

    row = aged[dealer]
    assert [
        row[k] for k in ("not_due", "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_over_90")
    ] == [
        "4000.00",
        "1000.00",
        "2000.00",
        "0.00",
        "500.00",
    ]
    assert (row["receivable"], row["overdue"], row["credit_used"], row["credit_limit"]) == (
        "7500.00",
        "3500.00",
        "7500.00",
        "8000.00",
    )
    assert today[dealer] == row  # the clock's day (30 June)
    mine = {
        (a["alert"], a.get("amount")) for a in alerts["result"]["alerts"] if a.get("customer_id") == dealer
    }
    assert mine == {("overdue_receivables", "3500.00"), ("credit_limit_nearly_used", "7500.00")}


async def test_r12_the_overview_total_of_overdue_receivables_is_the_ageing_report_summed(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev, on = Events(), datetime(2031, 6, 30).date()  # the overview's day
    dealer = ev.customer(at(2031, 1, 2), code="R12-D0002")
    settled = ev.order(dealer, at(2031, 1, 5), [("P-1", 10, "100.00")])
    ev.shipped(settled, dealer, at(2031, 1, 6), "1000.00", due_on=datetime(2031, 2, 5).date())
    ev.paid(settled, dealer, at(2031, 2, 1), "1000.00")
    owing = ev.order(dealer, at(2031, 1, 7), [("P-1", 20, "100.00")])
    ev.shipped(owing, dealer, at(2031, 1, 8), "1500.00", due_on=datetime(2031, 2, 7).date())
    ev.shipped(owing, dealer, at(2031, 1, 9), "500.00", due_on=datetime(2031, 7, 9).date())
    ev.paid(owing, dealer, at(2031, 2, 2), "600.00")
    await consumed(nc, settings, service, ev)

    report = await service.reports.receivables(Receivables(on=on))
    total = await service.reports.overdue(OverdueTotal(on=on))
    async with service.pool.acquire() as conn:
        kept = await conn.fetch(
            "SELECT order_id, unpaid FROM reporting.unpaid_receivables WHERE customer_id = $1", dealer
        )

    assert total["overdue"] == f"{sum(Decimal(r['overdue']) for r in report['rows']):.2f}"
    row = next(r for r in report["rows"] if r["customer_id"] == dealer)
    assert (row["not_due"], row["overdue"]) == ("500.00", "900.00")  # 600 paid settles the older shipment
    # Only what is still owed is kept: the paid order has no row.
    assert sorted((r["order_id"], r["unpaid"]) for r in kept) == [
        (owing, Decimal("500.00")),
        (owing, Decimal("900.00")),
    ]


# ---------------------------------------------------------------- R14: history import


async def test_r14_a_file_with_bad_lines_reports_each_by_number_and_imports_nothing(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2030, 1, 2), code="R14-D0001")
    await consumed(nc, settings, service, ev)
    content = HEADER + "\n".join(
        [
            "NOPE-D9999,2030-01,100.00,0.00,0.00,1",  # line 2: unknown code
            "R14-D0001,2030-13,100.00,0.00,0.00,1",  # line 3: no such period
            "R14-D0001,2030-02,-5.00,0.00,0.00,1",  # line 4: negative amount
            "R14-D0001,2029-12,100.00,0.00,0.00,1",  # line 5: good
            "R14-D0001,2029-12,100.00,0.00,0.00,1",  # line 6: the same customer and period again
            "R14-D0001,2031-07,100.00,0.00,0.00,x",  # line 7: the current period, and a bad quantity
        ]
    )
    reply = await request_(
        "reporting", "cmd", "import_history", command(FINANCE, file_name="bad.csv", content=content)
    )
    refused = await request_(
        "reporting", "cmd", "import_history", command(SALES, file_name="h.csv", content=HEADER)
    )
    dec = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2029-12"}))

    assert reply["ok"] is False and reply["error"]["rule"] == "R14", reply
    problems = [(p["line"], p["field"]) for p in reply["error"]["details"]["problems"]]
    assert problems == [(2, "customer_code"), (3, "period"), (4, "ordered_amount"), (6, "period"),
                        (7, "period"), (7, "quantity")]  # fmt: skip
    assert dealer not in dec  # nothing was imported, not even the good line
    assert (
        refused["ok"] is False
        and refused["error"]["code"] == "forbidden"
        and refused["error"]["rule"] == "R14"
    )


async def test_r14_imported_history_gives_growth_and_annual_figures_and_a_second_import_adds_nothing(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2030, 1, 2), code="R14-D0002")
    ev.order(dealer, at(2031, 6, 10), [("P-1", 30, "100.00")])  # 3,000 in 2031-06
    await consumed(nc, settings, service, ev)
    content = (
        HEADER
        + "R14-D0002,2031-05,2000.00,1500.00,1000.00,20\nR14-D0002,2030-06,1000.00,1000.00,1000.00,10\n"
    )
    body = command(FINANCE, file_name="history.csv", content=content)

    first = await request_("reporting", "cmd", "import_history", body)
    again = await request_("reporting", "cmd", "import_history", body)
    june = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2031-06"}))[dealer]
    may = rows(await request_("reporting", "query", "distributor_monthly", {"period": "2031-05"}))[dealer]
    year = rows(
        await request_("reporting", "query", "annual_statistics", {"year": 2030, "customer_id": dealer})
    )
    trail = await request_("reporting", "query", "audit_trail", {"aggregate_id": dealer})

    assert first["ok"] and (first["result"]["imported"], first["result"]["already_imported"]) == (2, False)
    assert again["ok"] and (again["result"]["imported"], again["result"]["already_imported"]) == (0, True)
    assert (june["growth_vs_previous"], june["growth_vs_last_year"]) == ("0.5000", "2.0000")
    assert (may["ordered_amount"], may["shipped_amount"], may["paid_amount"], may["quantity"]) == (
        "2000.00",
        "1500.00",
        "1000.00",
        20,
    )
    assert year[dealer]["ordered_amounts"][5] == "1000.00" and year[dealer]["total_amount"] == "1000.00"
    imported = [e for e in trail["result"]["entries"] if e["event_type"] == "HistoryLineImported"]
    assert [(e["actor"], e["data"]["period"]) for e in imported] == [
        ({"id": "fin-1", "role": "finance"}, "2031-05"),
        ({"id": "fin-1", "role": "finance"}, "2030-06"),
    ]


async def test_r14_cli_imports_the_sample_file_with_a_progress_bar_once(
    service: ReportingService, nc: NATS, settings: Settings
) -> None:
    sample = Path(__file__).parents[2] / "docs" / "samples" / "history.csv"
    ev = Events()
    codes = sorted({line.split(",")[0] for line in sample.read_text().splitlines()[1:] if line})
    for customer_code in codes:
        ev.customer(at(2025, 1, 2), code=customer_code)
    await consumed(nc, settings, service, ev)
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        status = await cli.run(
            cli.parser().parse_args(["import-history", str(sample), "--by", "fin-1"]), settings, out
        )
        outputs.append((status, out.getvalue()))
    assert outputs[0][0] == 0 and "import [" in outputs[0][1] and "100.0%" in outputs[0][1]
    assert "imported" in outputs[0][1].splitlines()[-1]
    assert outputs[1][0] == 0 and "imported before" in outputs[1][1]


# ---------------------------------------------------------------- R1 rev 2: sign-off


async def test_r1_a_signed_period_is_frozen_and_later_changes_show_as_adjustments(
    service: ReportingService, nc: NATS, settings: Settings, request_: Requester
) -> None:
    ev = Events()
    dealer = ev.customer(at(2031, 3, 2), code="R1S-D0001")
    oid = ev.order(dealer, at(2031, 5, 10), [("P-1", 10, "100.00")])
    await consumed(nc, settings, service, ev)

    signed = await request_("reporting", "cmd", "sign_off_period", command(MANAGER, period="2031-05"))
    ev.paid(oid, dealer, at(2031, 5, 20), "300.00")  # arrives after the sign-off, belongs to May
    await consumed(nc, settings, service, ev)
    report = await request_("reporting", "query", "signed_report", {"period": "2031-05"})
    twice = await request_("reporting", "cmd", "sign_off_period", command(MANAGER, period="2031-05"))
    alerts = await request_("reporting", "query", "alerts", {})

    assert signed["ok"], signed
    assert signed["result"]["signed_by"] == MANAGER.id
    frozen = rows({"ok": True, "result": report["result"]["report"]["distributor_monthly"]})[dealer]
    assert (frozen["ordered_amount"], frozen["paid_amount"]) == ("1000.00", "0.00")
    assert [
        (a["field"], a["signed"], a["current"], a["difference"])
        for a in report["result"]["adjustments"]
        if a.get("customer_id") == dealer
    ] == [("paid_amount", "0.00", "300.00", "300.00")]
    assert twice["ok"] is False and twice["error"]["rule"] == "R1"
    unsigned = {a["period"] for a in alerts["result"]["alerts"] if a["alert"] == "period_not_signed_off"}
    assert "2031-05" not in unsigned and "2031-04" in unsigned
    assert "2031-06" in unsigned  # closed 28 June, reported by 29 June 24:00: it is the 30th


async def test_r1_only_the_sales_manager_signs_and_only_a_closed_period(
    service: ReportingService, request_: Requester
) -> None:
    open_period = await request_("reporting", "cmd", "sign_off_period", command(MANAGER, period="2031-07"))
    not_manager = await request_("reporting", "cmd", "sign_off_period", command(SALES, period="2031-04"))
    missing = await request_("reporting", "query", "signed_report", {"period": "2031-04"})
    assert open_period["ok"] is False and open_period["error"]["rule"] == "R1"
    assert open_period["error"]["code"] == "invalid_state"
    assert not_manager["ok"] is False and not_manager["error"]["code"] == "forbidden"
    assert not_manager["error"]["rule"] == "R1"
    assert missing["ok"] is False and missing["error"]["code"] == "not_found"


async def test_r1_the_cli_signs_a_closed_period_off_once(
    service: ReportingService, settings: Settings
) -> None:
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        status = await cli.run(
            cli.parser().parse_args(["sign-off", "2026-01", "--by", "mgr-7"]), settings, out
        )
        outputs.append((status, out.getvalue()))
    assert outputs[0][0] == 0 and "period 2026-01 signed off by mgr-7" in outputs[0][1]
    assert outputs[1][0] == 1 and "refused (R1)" in outputs[1][1]
