"""The field and service pages' tables and figures (R11, R13, P8/P9) and R12's new alert links, without a
database: per-cent figures, sorting and filtering the salespeople, exports, the span a page asks for."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import load_workbook

from services.reporting.dashboard import fmt
from services.reporting.dashboard.field_columns import SERVICE_REGIONS, TARGETS_SALESPEOPLE
from services.reporting.dashboard.field_pages import span_query
from services.reporting.dashboard.grids import Grid
from services.reporting.dashboard.i18n import Words
from services.reporting.dashboard.pages import View, alert_link
from services.reporting.field_api import FieldExpenses, FieldTargets
from shared.clock import BUSINESS_TZ

SALESPEOPLE: list[dict[str, Any]] = [
    {
        "salesperson_id": who,
        "region": region,
        "target": target,
        "net_sales": net,
        "attainment_pct": pct,
        "gap": gap,
    }
    for who, region, target, net, pct, gap in [
        ("sp-1", "EAST", "1000.00", "1300.00", "130.0", "-300.00"),
        ("sp-2", "EAST", "2000.00", "900.00", "45.0", "1100.00"),
        ("sp-3", "NORTH", None, "50.00", None, None),
    ]
]


def targets() -> Grid:
    return Grid("target_salespeople", "salespeople", TARGETS_SALESPEOPLE, SALESPEOPLE)


def test_attainment_shows_as_a_percentage_already_in_per_cent() -> None:
    assert (fmt.percent("130.0"), fmt.percent("86.66"), fmt.percent(None), fmt.percent("")) == (
        "130.0%",
        "86.7%",
        "—",
        "—",
    )
    shown = [c.shown(SALESPEOPLE[0], Words("en")) for c in TARGETS_SALESPEOPLE]
    assert shown == ["sp-1", "EAST", "¥1,000.00", "¥1,300.00", "130.0%", "-¥300.00"]


def test_r11_salespeople_sort_by_attainment_with_no_target_last_and_filter_by_region_and_salesperson() -> (
    None
):
    ranked = targets().narrowed({"sort": "attainment_pct", "desc": "1"})
    assert [r["salesperson_id"] for r in ranked.rows] == ["sp-1", "sp-2", "sp-3"]
    assert [r["salesperson_id"] for r in targets().narrowed({"sort": "gap"}).rows] == ["sp-1", "sp-2", "sp-3"]
    east = targets().narrowed({"region": "EAST"})
    assert [r["salesperson_id"] for r in east.rows] == ["sp-1", "sp-2"]
    assert east.filters == {"region": ["EAST", "NORTH"], "salesperson": ["sp-1", "sp-2", "sp-3"]}
    assert [r["salesperson_id"] for r in targets().narrowed({"salesperson": "sp-2"}).rows] == ["sp-2"]


def test_r11_exports_keep_attainment_a_number_in_per_cent() -> None:
    rows = list(csv.reader(io.StringIO(targets().csv(Words("zh-CN")).decode("utf-8-sig"))))
    assert rows[0] == ["业务员", "区域", "目标", "净销售额", "达成率", "差额"]
    assert rows[1] == ["sp-1", "EAST", "1000.00", "1300.00", "130.0", "-300.00"]
    assert rows[3] == ["sp-3", "NORTH", "", "50.00", "", ""]
    sheet = load_workbook(io.BytesIO(targets().xlsx(Words("en")))).active
    assert sheet is not None and sheet.title == "Salespeople"
    assert sheet.cell(2, 5).value == 130 and sheet.cell(2, 5).number_format == '0.0"%"'


def test_p8_p9_counts_by_kind_show_in_one_cell() -> None:
    row = {
        "region": "EAST",
        "feedback": 3,
        "feedback_by_kind": {"suggestion": 2, "inquiry": 1},
        "feedback_major": 1,
        "feedback_overdue": 0,
        "service_requests": 0,
        "service_requests_by_kind": {},
        "service_requests_overdue": 0,
    }
    shown = [c.shown(row, Words("en")) for c in SERVICE_REGIONS]
    assert shown == ["EAST", "3", "inquiry 1, suggestion 2", "1", "0", "0", "—", "0"]


def test_a_field_page_asks_for_the_month_quarter_or_year_holding_the_period() -> None:
    as_of = datetime(2026, 11, 20, tzinfo=BUSINESS_TZ)

    def asked(span: str) -> tuple[int, int | None, int | None]:
        query = span_query(FieldTargets, View("2026-11", as_of, 2026, span))
        assert query.as_of == as_of
        return query.year, query.quarter, query.month

    assert (asked("month"), asked("quarter"), asked("year")) == (
        (2026, None, 11),
        (2026, 4, None),
        (2026, None, None),
    )
    assert span_query(FieldExpenses, View("2027-03", None, 2027, "quarter")).quarter == 1


def test_r12_an_alert_about_one_hold_or_complaint_opens_its_audit_trail_not_the_customer() -> None:
    customer = {"customer_id": "c-1", "code": "EAST-D0001"}
    assert (
        alert_link({**customer, "alert": "hold_expiring", "hold_id": "h 1"})
        == "/dashboard/audit?aggregate_id=h%201"
    )
    for key in ("complaint_id", "feedback_id", "service_request_id"):
        assert alert_link({**customer, key: "k-1"}) == "/dashboard/audit?aggregate_id=k-1"
    assert alert_link({**customer, "alert": "overdue_receivables"}) == "/dashboard/customer/c-1"
    assert (
        alert_link({"alert": "period_not_signed_off", "period": "2026-10"})
        == "/dashboard/review?period=2026-10"
    )
    assert alert_link({"order_id": "o-1"}) == "/dashboard/audit?aggregate_id=o-1"
