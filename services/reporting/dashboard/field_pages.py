"""The field and service pages: R11 targets vs actual, R13 visits and expenses, P8/P9 service figures.

Targets and expenses cover the month, quarter or year of the plan (``?span=``) holding the chosen period;
visits and service figures the period itself.
"""

from __future__ import annotations

from typing import Any, TypeVar

from services.reporting import api as q
from services.reporting import field_api as f
from services.reporting.api import Reports
from services.reporting.dashboard import field_columns as c
from services.reporting.dashboard.grids import Grid
from services.reporting.dashboard.pages import Page, PageBuilder, View

SPANS = ("month", "quarter", "year")
S = TypeVar("S", bound=f.SpanQuery)


def span_query(kind: type[S], view: View) -> S:
    """The query for the plan's year with the month, or the quarter, holding the view's period (neither
    for the year)."""
    year, month = int(view.period[:4]), int(view.period[5:])
    return kind(
        year=year,
        month=month if view.span == "month" else None,
        quarter=(month - 1) // 3 + 1 if view.span == "quarter" else None,
        as_of=view.as_of,
    )


def _spanned(report: dict[str, Any]) -> dict[str, Any]:
    """What the page says it covers: the span's kind and its months."""
    return {"spans": SPANS, "months": report["months"]}


async def targets(reports: Reports, view: View) -> Page:
    report = await f.FieldReports(reports).targets(span_query(f.FieldTargets, view))
    return Page(
        "targets",
        [
            Grid("company", "company", c.TARGETS_COMPANY, [{"unit": "company", **report["company"]}]),
            Grid("target_regions", "regions", c.TARGETS_REGIONS, report["regions"]),
            Grid("target_salespeople", "salespeople", c.TARGETS_SALESPEOPLE, report["salespeople"]),
        ],
        extra=_spanned(report),
    )


async def visits(reports: Reports, view: View) -> Page:
    report = await f.FieldReports(reports).visits(f.FieldVisits(month=view.period, as_of=view.as_of))
    return Page(
        "visits",
        [
            Grid("visit_salespeople", "salespeople", c.VISITS_SALESPEOPLE, report["salespeople"]),
            Grid("visit_regions", "regions", c.VISITS_REGIONS, report["regions"]),
        ],
    )


async def expenses(reports: Reports, view: View) -> Page:
    report = await f.FieldReports(reports).expenses(span_query(f.FieldExpenses, view))
    return Page(
        "expenses", [Grid("expenses", "expenses", c.EXPENSES, report["rows"])], extra=_spanned(report)
    )


async def service(reports: Reports, view: View) -> Page:
    report = await reports.service_figures(q.ServiceFigures(period=view.period, as_of=view.as_of))
    # The salesperson filter reads ``salesperson_id``, as on the staff page.
    staff = [{**r, "salesperson_id": r["staff_id"]} for r in report["staff"]]
    return Page(
        "service",
        [
            Grid("service_regions", "regions", c.SERVICE_REGIONS, report["regions"]),
            Grid("service_staff", "by_staff", c.SERVICE_STAFF, staff),
        ],
    )


# Field pages (address -> builder), in the navigation's order, after the period pages.
FIELD_PAGES: dict[str, PageBuilder] = {
    "targets": targets,
    "visits": visits,
    "expenses": expenses,
    "service": service,
}
