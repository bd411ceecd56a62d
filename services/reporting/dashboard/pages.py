"""Each dashboard page as the tables it shows, built from the reports (``Reports``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from services.reporting import api as q
from services.reporting.api import Reports
from services.reporting.consumption import Consumption
from services.reporting.dashboard import columns as c
from services.reporting.dashboard.grids import Grid
from shared.clock import BUSINESS_TZ


@dataclass(frozen=True)
class View:
    """What the reader asked for: the period (or year) and the moment the reports stand at (R9)."""

    period: str
    as_of: datetime | None
    year: int
    # The field pages' month, quarter or year of the plan holding the period.
    span: str = "month"


@dataclass
class Page:
    title: str
    grids: list[Grid]
    template: str = "tables.html"
    extra: dict[str, Any] = field(default_factory=dict)


def customer_link(row: Mapping[str, Any]) -> str | None:
    cid = row.get("customer_id")
    return f"/dashboard/customer/{quote(str(cid), safe='')}" if cid else None


def audit_link(aggregate_id: str) -> str:
    return f"/dashboard/audit?aggregate_id={quote(aggregate_id, safe='')}"


# The alert's cells that open its subject.
ALERT_LINKS = ("alert", "subject", "company_name")


def _ids(prefix: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda row: f"{prefix}-{row.get('customer_id')}"


async def filterable(reports: Reports, view: View, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their customer's kind, region, grade and salesperson where a report leaves them out,
    so every customer table filters by all four (a row's own values stay)."""
    dimension = await reports.customer_dimension(q.CustomerDimension(as_of=view.as_of))
    known = {c["customer_id"]: c for c in dimension["customers"]}
    return [{**known.get(r.get("customer_id"), {}), **r} for r in rows]


async def distributors(reports: Reports, view: View) -> Page:
    report = await reports.distributor_monthly(q.DistributorMonthly(period=view.period, as_of=view.as_of))
    grid = Grid("distributors", "distributors", c.DISTRIBUTORS, report["rows"], customer_link, _ids("d"))
    return Page("distributors", [grid])


async def branches(reports: Reports, view: View) -> Page:
    report = await reports.branch_monthly(q.BranchMonthly(period=view.period, as_of=view.as_of))
    rows = await filterable(reports, view, report["rows"])
    return Page("branches", [Grid("branches", "branches", c.BRANCHES, rows, customer_link, _ids("b"))])


async def key_customers(reports: Reports, view: View) -> Page:
    report = await reports.key_customers(q.KeyCustomers(period=view.period, as_of=view.as_of))
    return Page(
        "key_customers",
        [
            Grid(key, key, c.KEY_CUSTOMERS, await filterable(reports, view, report[key]), customer_link)
            for key in ("by_sales", "by_growth", "by_margin")
        ],
    )


async def regions(reports: Reports, view: View) -> Page:
    report = await reports.regions(q.Regions(period=view.period, as_of=view.as_of))
    return Page("regions", [Grid("regions", "regions", c.REGIONS, report["rows"])])


async def staff(reports: Reports, view: View) -> Page:
    report = await reports.staff(q.StaffReport(period=view.period, as_of=view.as_of))
    # The salesperson filter reads ``salesperson_id``, as on the customer reports.
    rows = [{**r, "salesperson_id": r["staff_id"]} for r in report["rows"]]
    return Page("staff", [Grid("staff", "staff", c.STAFF, rows)])


async def review(reports: Reports, view: View) -> Page:
    report = await reports.monthly_review(q.MonthlyReview(period=view.period, as_of=view.as_of))
    rows = await filterable(reports, view, report["flags"])
    return Page("review", [Grid("review", "review", c.REVIEW, rows, customer_link)])


async def annual(reports: Reports, view: View) -> Page:
    report = await reports.annual(q.AnnualStatistics(year=view.year, as_of=view.as_of))
    rows = await filterable(reports, view, report["rows"])
    return Page("annual", [Grid("annual", "annual", c.annual(report["periods"]), rows, customer_link)])


def ageing_day(view: View) -> Any:
    """Receivables are aged on the as-of day when one is given, else today (the service's clock)."""
    return view.as_of.astimezone(BUSINESS_TZ).date() if view.as_of else None


async def receivables(reports: Reports, view: View) -> Page:
    report = await reports.receivables(q.Receivables(on=ageing_day(view), as_of=view.as_of))
    rows = await filterable(reports, view, report["rows"])
    grid = Grid("receivables", "receivables", c.RECEIVABLES, rows, customer_link, _ids("r"))
    return Page("receivables", [grid], extra={"on": report["on"]})


# The alerts about one hold, complaint, feedback or service request: they open its audit trail.
ALERT_SUBJECTS = ("hold_id", "complaint_id", "feedback_id", "service_request_id")


def alert_link(alert: Mapping[str, Any]) -> str | None:
    """An alert about one hold, complaint, feedback or service request opens its audit trail; another
    customer's alert opens the customer; an unsigned period opens that period's monthly review; parked
    dead letters open the operations page; one naming only an order its audit trail."""
    subject = next((alert[k] for k in ALERT_SUBJECTS if alert.get(k)), None)
    if subject:
        return audit_link(str(subject))
    if alert.get("customer_id"):
        return customer_link(alert)
    if alert.get("period"):
        return f"/dashboard/review?period={alert['period']}"
    if alert.get("durable"):
        return "/dashboard/ops"
    return audit_link(str(alert["order_id"])) if alert.get("order_id") else None


async def alerts(reports: Reports, consumption: Consumption | None) -> Page:
    """R12's alerts, and (R12: dead letters) every consumer of reporting that parked messages."""
    found = list((await reports.alerts(q.Alerts()))["alerts"])
    for consumer in await consumption() if consumption else []:
        if consumer["dead_letters"]:
            found.append(
                {
                    "alert": "dead_letters",
                    "rule": "R12",
                    "durable": consumer["durable"],
                    "count": consumer["dead_letters"],
                }
            )
    return Page("alerts", [Grid("alerts", "alerts", c.ALERTS, found, alert_link, link_columns=ALERT_LINKS)])


async def ops(reports: Reports, consumption: Consumption | None) -> Page:
    """The technical figures: how far reporting has consumed each source (its log) and, where the service
    runs its consumers here, what each durable still has pending and has parked as dead letters."""
    lag = await reports.lag(q.Lag())
    grids = [Grid("consumption", "consumption", c.CONSUMPTION, lag["sources"])]
    if consumption is not None:
        grids.append(Grid("consumers", "consumers", c.CONSUMERS, await consumption()))
    return Page("ops", grids)


async def overview(reports: Reports, view: View) -> Page:
    # Side by side: each report asks the pool for its own connection.
    trend, owed = await asyncio.gather(
        reports.sales_trend(q.SalesTrend(period=view.period, as_of=view.as_of)),
        reports.overdue(q.OverdueTotal(on=ageing_day(view), as_of=view.as_of)),
    )
    now, before = trend["periods"][-1], trend["periods"][-2]
    last_year = trend["same_period_last_year"]
    tiles = {
        "net_sales": now["net_sales"],
        "previous": before,
        "last_year": last_year,
        "vs_previous": _growth(now["net_sales"], before["net_sales"]),
        "vs_last_year": _growth(now["net_sales"], last_year["net_sales"]),
        "orders": now["orders"],
        "receivables_overdue": owed["overdue"],
        "holds_live": trend["holds_live"],
        "complaints_open": trend["complaints_open"],
    }
    grid = Grid("trend", "figures_over_time", c.TREND, trend["periods"])
    return Page("overview", [grid], "overview.html", {"tiles": tiles, "trend": trend["periods"]})


def _growth(current: str, before: str) -> str | None:
    """As R2's growth: only against positive sales before."""
    earlier = Decimal(before)
    return f"{(Decimal(current) - earlier) / earlier:.4f}" if earlier > 0 else None


PageBuilder = Callable[[Reports, View], Awaitable[Page]]
# Period pages (address -> builder), in the navigation's order.
PERIOD_PAGES: dict[str, PageBuilder] = {
    "distributors": distributors,
    "branches": branches,
    "key-customers": key_customers,
    "regions": regions,
    "staff": staff,
    "review": review,
    "annual": annual,
    "receivables": receivables,
}
