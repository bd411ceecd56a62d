"""A report table as the dashboard shows it: typed columns, sorting and filtering by query parameters,
and the same rows exported as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from openpyxl import Workbook

from services.reporting.dashboard import fmt
from services.reporting.dashboard.i18n import Words

Kind = Literal[
    "text", "name", "word", "tally", "money", "count", "rate", "share", "percent", "moment", "flag"
]
# Shown in the reader's words: an enum value ("word"), counts by enum value ("tally"), yes or no ("flag").
WORDED: frozenset[str] = frozenset({"word", "tally", "flag"})
NUMERIC: frozenset[str] = frozenset({"money", "count", "rate", "share", "percent"})
# Query parameter -> the row field it filters on (R2–R7 rows name the salesperson ``salesperson_id``).
FILTERS: dict[str, str] = {
    "region": "region",
    "salesperson": "salesperson_id",
    "kind": "kind",
    "grade": "grade",
}
# A "percent" figure is already in per cent (95.0), a "rate" or "share" a fraction (0.95).
XLSX_FORMATS = {
    "money": "¥#,##0.00",
    "count": "#,##0",
    "rate": "0.0%",
    "share": "0.0%",
    "percent": '0.0"%"',
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "text"
    # The value shown, when it is not the row's own field (e.g. "3/1/0" from three counters).
    value: Callable[[Mapping[str, Any]], Any] | None = None

    def raw(self, row: Mapping[str, Any]) -> Any:
        return self.value(row) if self.value else row.get(self.key)

    def shown(self, row: Mapping[str, Any], words: Words) -> str:
        value = self.raw(row)
        match self.kind:
            case "money":
                return fmt.money(value)
            case "count":
                return fmt.count(value)
            case "rate":
                return fmt.rate(value)
            case "share":
                return fmt.rate(value, signed=False)
            case "percent":
                return fmt.percent(value)
            case "moment":
                return fmt.moment(value)
            case "word":
                return words(value) if value not in (None, "") else fmt.EMPTY
            case "tally":  # {"dealer": 3, "agent": 1} as "agent 1, dealer 3", each in the reader's words
                return ", ".join(f"{words(k)} {n}" for k, n in sorted((value or {}).items())) or fmt.EMPTY
            case "flag":
                return words("yes" if value else "no")
            case _:
                return fmt.text(value)

    def number(self, row: Mapping[str, Any]) -> Decimal | None:
        value = self.raw(row)
        try:
            return None if value is None or value == "" else Decimal(str(value))
        except InvalidOperation:
            return None


@dataclass
class Grid:
    """One table of a page; ``link`` gives a row's drill-down address (the customer's page)."""

    name: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    link: Callable[[Mapping[str, Any]], str | None] | None = None
    row_id: Callable[[Mapping[str, Any]], str] | None = None
    filters: dict[str, list[str]] = field(default_factory=dict)
    # The cells that carry the row's link: what names the subject.
    link_columns: tuple[str, ...] = ("code", "company_name")

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def narrowed(self, params: Mapping[str, str]) -> Grid:
        """The rows matching every filter given (region, salesperson, kind, grade), sorted by ``sort``
        (a column key; ``desc=1`` for descending); the filter choices come from all rows."""
        choices = {
            name: sorted({str(r[key]) for r in self.rows if r.get(key) not in (None, "")})
            for name, key in FILTERS.items()
            if any(key in r for r in self.rows)
        }
        rows = [
            r
            for r in self.rows
            if all(not params.get(name) or str(r.get(FILTERS[name])) == params[name] for name in choices)
        ]
        column = self.column(params.get("sort", ""))
        if column is not None:
            descending = params.get("desc") == "1"
            present = [r for r in rows if column.raw(r) not in (None, "")]
            missing = [r for r in rows if column.raw(r) in (None, "")]
            if column.kind in NUMERIC:
                present.sort(key=lambda r: column.number(r) or Decimal(0), reverse=descending)
            else:
                present.sort(key=lambda r: str(column.raw(r)), reverse=descending)
            rows = present + missing  # an empty cell sorts last either way
        return Grid(
            self.name, self.title, self.columns, rows, self.link, self.row_id, choices, self.link_columns
        )

    def body(
        self, words: Words, keep: Callable[[str], str]
    ) -> list[tuple[str | None, list[tuple[str, str, str | None]]]]:
        """The rows as shown: each its element id and cells (text, CSS class, link or None); computed
        here rather than in the template, which is several times slower per cell."""
        css = ["" if c.kind in NUMERIC else ("l name" if c.kind == "name" else "l") for c in self.columns]
        linking = [c.key in self.link_columns for c in self.columns]
        shown = []
        for row in self.rows:
            target = self.link(row) if self.link else None
            href = keep(target) if target else None
            cells = [
                (column.shown(row, words), css[i], href if linking[i] else None)
                for i, column in enumerate(self.columns)
            ]
            shown.append((self.row_id(row) if self.row_id else None, cells))
        return shown

    def csv(self, words: Words) -> bytes:
        """UTF-8 with a byte-order mark, so a spreadsheet opens the Chinese headings correctly; numbers
        as plain decimals (no ¥, no separators) so they stay numbers."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([words(c.label) for c in self.columns])
        for row in self.rows:
            writer.writerow([_export_value(c, row, words) for c in self.columns])
        return out.getvalue().encode("utf-8-sig")

    def xlsx(self, words: Words) -> bytes:
        book = Workbook()
        sheet = book.active
        assert sheet is not None  # a new workbook has its one sheet
        sheet.title = words(self.title)[:31]  # Excel's limit on a sheet name
        sheet.append([words(c.label) for c in self.columns])
        for row in self.rows:
            sheet.append([_export_value(c, row, words) for c in self.columns])
        for index, column in enumerate(self.columns, start=1):
            if column.kind in XLSX_FORMATS:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = XLSX_FORMATS[column.kind]
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _export_value(column: Column, row: Mapping[str, Any], words: Words) -> Any:
    if column.kind in NUMERIC:
        return column.number(row)
    value = column.raw(row)
    if value in (None, "", {}):
        return ""
    return column.shown(row, words) if column.kind in WORDED else str(value)
