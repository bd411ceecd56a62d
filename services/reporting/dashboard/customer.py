"""The customer's page (drill-down): its figures over time, orders, holds, complaints and audit trail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.reporting import api as q
from services.reporting.api import Reports
from services.reporting.dashboard import columns as c
from services.reporting.dashboard.grids import Grid
from services.reporting.dashboard.pages import Page, View, audit_link

# The aggregates of other services that name the customer, as reporting's event log calls them.
HOLD, COMPLAINT = "Reservation", "Complaint"
ORDER, SUBJECT, EVENT = ("order_id",), ("aggregate_id",), ("event_type",)


def subjects(entries: list[dict[str, Any]], aggregate_type: str) -> list[dict[str, Any]]:
    """One row per hold (or complaint) of the customer: when it began and its latest event."""
    found: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e["aggregate_type"] != aggregate_type:
            continue
        row = found.setdefault(e["aggregate_id"], {"aggregate_id": e["aggregate_id"], "first_at": e["at"]})
        row.update(latest=e["event_type"], latest_at=e["at"])
    return list(found.values())


def opens_audit(key: str) -> Callable[[Mapping[str, Any]], str]:
    """A row's link to the audit trail of the order, hold or complaint it names."""
    return lambda row: audit_link(str(row[key]))


async def customer_page(reports: Reports, view: View, customer: dict[str, Any]) -> Page:
    cid = customer["customer_id"]
    trend = await reports.sales_trend(q.SalesTrend(period=view.period, as_of=view.as_of, customer_id=cid))
    orders = await reports.customer_orders(q.CustomerOrders(customer_id=cid, as_of=view.as_of))
    trail = await reports.audit_trail(q.AuditTrail(aggregate_id=cid))
    entries = trail["entries"]
    if view.as_of is not None:
        entries = [e for e in entries if datetime.fromisoformat(e["at"]) <= view.as_of]
    grids = [
        Grid("figures", "figures_over_time", c.TREND, trend["periods"]),
        Grid("orders", "orders", c.ORDERS, orders["rows"], opens_audit("order_id"), link_columns=ORDER),
        Grid(
            "holds",
            "holds_of",
            c.SUBJECTS,
            subjects(entries, HOLD),
            opens_audit("aggregate_id"),
            link_columns=SUBJECT,
        ),
        Grid(
            "complaints",
            "complaints",
            c.SUBJECTS,
            subjects(entries, COMPLAINT),
            opens_audit("aggregate_id"),
            link_columns=SUBJECT,
        ),
        Grid("audit", "audit_trail", c.AUDIT, entries, opens_audit("aggregate_id"), link_columns=EVENT),
    ]
    return Page("customer", grids, "customer.html", {"customer": customer, "trend": trend["periods"]})


async def audit_page(reports: Reports, aggregate_id: str) -> Page:
    trail = await reports.audit_trail(q.AuditTrail(aggregate_id=aggregate_id))
    grid = Grid(
        "audit",
        "audit_trail",
        c.AUDIT,
        trail["entries"],
        opens_audit("aggregate_id"),
        link_columns=EVENT,
    )
    return Page("audit_trail", [grid], "audit.html", {"aggregate_id": aggregate_id})
