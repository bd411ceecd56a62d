"""The dashboard's formatting (Shanghai dates, ¥, "—"), its two languages, the SVG trend chart and its
tables' sorting, filtering and exports."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook
from starlette.requests import Request

from services.reporting.dashboard import fmt
from services.reporting.dashboard.chart import trend_svg
from services.reporting.dashboard.columns import DISTRIBUTORS
from services.reporting.dashboard.grids import Grid
from services.reporting.dashboard.i18n import WORDS, Words, choose


def request(query: str = "", cookie: str = "") -> Request:
    headers = [(b"cookie", cookie.encode())] if cookie else []
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


def test_period_shows_as_its_shanghai_days_in_either_language() -> None:
    # close_28th: period 2026-12 runs from 29 November to 28 December (business days in Shanghai).
    assert fmt.period_span("2026-12", "close_28th", "zh-CN") == "11月29日–12月28日"
    assert fmt.period_span("2026-12", "close_28th", "en") == "29 Nov – 28 Dec"
    assert fmt.period_span("2026-02", "calendar", "zh-CN") == "2月1日–2月28日"


def test_moments_show_in_shanghai_time() -> None:
    assert fmt.moment("2026-11-28T16:00:00+00:00") == "2026-11-29 00:00"
    assert fmt.moment(None) == "—"


def test_money_has_yen_and_thousands_separators_and_empty_is_a_dash() -> None:
    assert fmt.money("1234567.5") == "¥1,234,567.50"
    assert fmt.money("-1200.00") == "-¥1,200.00"
    assert fmt.money(Decimal("0")) == "¥0.00"
    assert [fmt.money(None), fmt.money(""), fmt.text(None), fmt.count(None), fmt.rate(None)] == ["—"] * 5


def test_rates_show_as_signed_growth_or_plain_share() -> None:
    assert (fmt.rate("0.2500"), fmt.rate("-0.0512")) == ("+25.0%", "-5.1%")
    assert fmt.rate("0.9312", signed=False) == "93.1%"
    assert fmt.count("12345") == "12,345"


def test_language_is_chinese_unless_the_reader_chose_english() -> None:
    assert choose(request()) == "zh-CN"
    assert choose(request("lang=en")) == "en"
    assert choose(request(cookie="salesops_lang=en")) == "en"
    assert choose(request("lang=zh-CN", "salesops_lang=en")) == "zh-CN"
    assert choose(request("lang=fr")) == "zh-CN"
    assert (Words("zh-CN")("orders"), Words("en")("orders")) == ("订单数", "Orders")
    assert Words("en")("EAST") == "EAST"  # a region or code is shown as it is


def test_every_word_has_both_languages() -> None:
    assert all(len(pair) == 2 and all(pair) for pair in WORDS.values())


def bars(svg: str) -> list[dict[str, float]]:
    found = re.findall(
        r'<rect class="bar[^"]*" x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg
    )
    return [{"x": float(x), "y": float(y), "h": float(h)} for x, y, h in found]


def test_trend_chart_draws_one_bar_per_period_scaled_to_the_largest() -> None:
    points = [(f"2026-{m:02d}", Decimal(m * 100)) for m in range(1, 13)] + [("2027-01", Decimal(0))]
    svg = trend_svg(points, "<trend>", {"2026-12": "¥1,200.00"})
    drawn = bars(svg)
    assert len(drawn) == 13 and svg.startswith("<svg") and "<script" not in svg
    assert drawn[11]["h"] == max(b["h"] for b in drawn) and drawn[0]["h"] * 12 == drawn[11]["h"]
    assert [b["x"] for b in drawn] == sorted(b["x"] for b in drawn)  # oldest on the left
    assert "&lt;trend&gt;" in svg and "2026-12: ¥1,200.00" in svg  # titles escaped, amounts as shown
    assert svg.count('class="bar now"') == 1


def test_trend_chart_hangs_a_negative_period_below_the_zero_line() -> None:
    svg = trend_svg([("2026-10", Decimal(300)), ("2026-11", Decimal(-100))], "t", {})
    zero = float(re.search(r'class="zero"[^>]* y1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    up, down = bars(svg)
    assert up["y"] + up["h"] == zero and down["y"] == zero and down["h"] * 3 == up["h"]


ROWS: list[dict[str, Any]] = [
    {
        "customer_id": f"c{i}",
        "rank": i,
        "code": code,
        "company_name": name,
        "kind": kind,
        "region": region,
        "grade": grade,
        "salesperson_id": "sp-1",
        "orders": 1,
        "ordered_amount": amount,
        "shipped_amount": "0.00",
        "paid_amount": "0.00",
        "deposits": "0.00",
        "holds_made": 0,
        "holds_converted": 0,
        "holds_expired": 0,
        "quality_complaints": 0,
        "service_complaints": 1,
        "fines": "0.00",
        "growth_vs_previous": growth,
        "growth_vs_last_year": None,
    }
    for i, (code, name, kind, region, grade, amount, growth) in enumerate(
        [
            ("D-1", "东方经销", "dealer", "EAST", "A", "1200.00", "0.5000"),
            ("D-2", "北方代理", "agent", "NORTH", "B", "900.50", None),
            ("D-3", "西部经销", "dealer", "WEST", None, "15000.00", "-0.1000"),
        ],
        start=1,
    )
]


def grid() -> Grid:
    return Grid("distributors", "distributors", DISTRIBUTORS, ROWS)


def test_table_filters_by_kind_region_and_grade_and_offers_the_choices() -> None:
    dealers = grid().narrowed({"kind": "dealer"})
    assert [r["code"] for r in dealers.rows] == ["D-1", "D-3"]
    assert dealers.filters["kind"] == ["agent", "dealer"] and dealers.filters["grade"] == ["A", "B"]
    assert [r["code"] for r in grid().narrowed({"kind": "dealer", "region": "WEST"}).rows] == ["D-3"]
    assert grid().narrowed({"salesperson": "sp-2"}).rows == []


def test_table_sorts_money_as_numbers_and_puts_empty_cells_last() -> None:
    by_amount = grid().narrowed({"sort": "ordered_amount", "desc": "1"})
    assert [r["code"] for r in by_amount.rows] == ["D-3", "D-1", "D-2"]  # 15000 > 1200 > 900.50
    by_growth = grid().narrowed({"sort": "growth_vs_previous"})
    assert [r["code"] for r in by_growth.rows] == ["D-3", "D-1", "D-2"]  # -10 %, +50 %, then none
    assert [r["code"] for r in grid().narrowed({"sort": "no-such-column"}).rows] == ["D-1", "D-2", "D-3"]


def test_csv_export_has_translated_headings_and_plain_numbers() -> None:
    body = grid().narrowed({"kind": "dealer"}).csv(Words("zh-CN"))
    assert body.startswith("\ufeff".encode())  # a spreadsheet then reads it as UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["排名", "编码", "名称", "类型"]
    assert rows[1][1:4] == ["D-1", "东方经销", "经销商"] and rows[1][8] == "1200.00"
    assert len(rows) == 3


def test_xlsx_export_keeps_money_as_numbers_with_a_yen_format() -> None:
    book = load_workbook(io.BytesIO(grid().xlsx(Words("en"))))
    sheet = book.active
    assert sheet is not None and sheet.title == "Distributors"
    assert [cell.value for cell in sheet[1]][:3] == ["Rank", "Code", "Name"]
    money = sheet.cell(row=4, column=9)
    assert money.value == 15000 and money.number_format == "¥#,##0.00"
    assert sheet.cell(row=4, column=5).value == "WEST" and sheet.cell(row=4, column=6).value is None
    assert sheet.max_row == 4
