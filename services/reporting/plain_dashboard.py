"""The plain dashboard (server-rendered tables, no script, nothing from a CDN): ``/dashboard`` and the audit
trail page ``/dashboard/audit``, for the people ``sessions`` lets read them; others are sent to sign in.
The dashboard pages of issue #22 replace it (``services/reporting/dashboard/``)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.reporting import api as q
from services.reporting.api import Reports
from services.reporting.periods import period_of
from services.reporting.sessions import (
    AUDIT_READERS,
    LOGIN_PATH,
    LOGOUT_PATH,
    REPORT_READERS,
    Viewer,
    viewer,
)
from shared.clock import Clock
from shared.identity.scope import acting_as


def plain_dashboard(
    reports: Reports,
    clock: Clock,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard(
        who: Annotated[Viewer | None, Depends(viewer)],
        period: Annotated[str | None, Query(max_length=7)] = None,
        as_of: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        if who is None:
            return RedirectResponse(LOGIN_PATH, 303)
        who.require(REPORT_READERS, "the reports")
        chosen = period or period_of(clock.now(), reports.mode)
        moment: datetime | None = None
        try:
            if as_of:
                moment = datetime.fromisoformat(as_of)
            dm = q.DistributorMonthly(period=chosen, as_of=moment)
        except (ValueError, ValidationError):
            return HTMLResponse(
                page(
                    "salesops reporting",
                    "<p class=error>period must be YYYY-MM (1900-01 to 2199-12) and as-of an ISO "
                    "moment with a time zone</p>" + period_form(chosen, as_of),
                ),
                422,
            )
        distributors = await reports.distributor_monthly(dm)
        branches = await reports.branch_monthly(q.BranchMonthly(period=chosen, as_of=moment))
        review = await reports.monthly_review(q.MonthlyReview(period=chosen, as_of=moment))
        lag_rows = (await reports.lag(q.Lag()))["sources"]
        more = {
            "key": await reports.key_customers(q.KeyCustomers(period=chosen, as_of=moment)),
            "regions": await reports.regions(q.Regions(period=chosen, as_of=moment)),
            "staff": await reports.staff(q.StaffReport(period=chosen, as_of=moment)),
        }
        return HTMLResponse(
            page(
                f"salesops reporting {chosen}",
                dashboard_body(chosen, as_of, distributors, branches, review, lag_rows, more),
            )
        )

    @router.get("/dashboard/audit", response_class=HTMLResponse)
    async def audit_page(
        who: Annotated[Viewer | None, Depends(viewer)],
        aggregate_id: Annotated[str, Query(max_length=q.ID_MAX, pattern=f"{q.ID_PATTERN}|^$")] = "",
    ) -> Response:
        if who is None:
            return RedirectResponse(LOGIN_PATH, 303)
        who.require(AUDIT_READERS, "the audit trail")
        with acting_as(who.acting()):  # the read is recorded under the reader's name (#23)
            trail = (
                await reports.audit_trail(q.AuditTrail(aggregate_id=aggregate_id)) if aggregate_id else None
            )
        return HTMLResponse(page("audit trail", audit_body(aggregate_id, trail)))

    return router


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}h3{font-size:.95rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.error{color:#b00}.flag-reward{color:#070}
.flag-channel_optimisation{color:#b60}form{display:inline-block;margin-right:1rem}nav a{margin-right:1rem}
"""


SIGN_OUT = f"<form method=post action={LOGOUT_PATH}><button type=submit>Sign out</button></form>"


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def period_form(period: str, as_of: str | None) -> str:
    return (
        '<form method=get action=/dashboard><label>Period <input name=period value="' + escape(period) + '" '
        'size=8></label> <label>As of <input name=as_of value="' + escape(as_of or "") + '" '
        'placeholder="2026-11-20T00:00:00+08:00"></label> <button type=submit>Show</button></form>'
        "<form method=get action=/dashboard/audit><label>Audit trail of <input name=aggregate_id "
        'placeholder="customer, order, hold or complaint id" size=38></label> '
        "<button type=submit>Show</button></form>"
    )


def table(headers: list[str], rows: list[list[Any]], left: int = 1, row_ids: list[str] | None = None) -> str:
    head = "".join(f"<th{' class=l' if i < left else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        cells = "".join(
            f"<td{' class=l' if i < left else ''}>{escape('' if v is None else str(v))}</td>"
            for i, v in enumerate(row)
        )
        rid = f' id="{escape(row_ids[n])}"' if row_ids else ""
        body.append(f"<tr{rid}>{cells}</tr>")
    if not rows:
        body.append(f"<tr><td class=l colspan={len(headers)}>nothing in this period</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def dashboard_body(
    period: str,
    as_of: str | None,
    distributors: dict[str, Any],
    branches: dict[str, Any],
    review: dict[str, Any],
    lag_rows: list[dict[str, Any]],
    more: dict[str, dict[str, Any]],
) -> str:
    stamp = f" as of {escape(as_of)}" if as_of else ""
    parts = [
        f"<h1>salesops reporting: period {escape(period)}{stamp}</h1>",
        f"<p>{escape(distributors['starts_at'])} to {escape(distributors['ends_at'])} "
        f"({escape(distributors['period_mode'])})</p>",
        period_form(period, as_of),
        SIGN_OUT,
        "<h2>Event consumption</h2>",
        table(
            ["source", "position", "events", "updated"],
            [[r["service"], r["position"], r["events"], r["updated_at"]] for r in lag_rows],
        ),
        "<h2>Distributors (R2)</h2>",
        table(
            [
                "rank",
                "code",
                "name",
                "kind",
                "region",
                "grade",
                "orders",
                "ordered",
                "shipped",
                "paid",
                "deposits",
                "holds made/conv/exp",
                "complaints q/s",
                "fines",
                "growth vs prev",
                "growth vs last year",
            ],
            [
                [
                    r["rank"],
                    r["code"],
                    r["company_name"],
                    r["kind"],
                    r["region"],
                    r["grade"],
                    r["orders"],
                    r["ordered_amount"],
                    r["shipped_amount"],
                    r["paid_amount"],
                    r["deposits"],
                    f"{r['holds_made']}/{r['holds_converted']}/{r['holds_expired']}",
                    f"{r['quality_complaints']}/{r['service_complaints']}",
                    r["fines"],
                    r["growth_vs_previous"],
                    r["growth_vs_last_year"],
                ]
                for r in distributors["rows"]
            ],
            left=6,
            row_ids=[f"d-{r['customer_id']}" for r in distributors["rows"]],
        ),
        "<h2>Branches (R3)</h2>",
        table(
            [
                "code",
                "name",
                "region",
                "orders",
                "ordered",
                "capital occupied",
                "capital limit",
                "over limit",
                "over-limit approvals",
                "request-list match",
                "reorder alerts",
            ],
            [
                [
                    r["code"],
                    r["company_name"],
                    r["region"],
                    r["orders"],
                    r["ordered_amount"],
                    r["capital_occupied"],
                    r["capital_limit"],
                    "yes" if r["over_capital_limit"] else "no",
                    r["over_limit_approvals"],
                    r["request_list_match_rate"],
                    r["reorder_alerts"],
                ]
                for r in branches["rows"]
            ],
            left=3,
            row_ids=[f"b-{r['customer_id']}" for r in branches["rows"]],
        ),
        "<h2>Monthly review (R8)</h2>",
        table(
            ["flag", "code", "name", "rank", "ordered", "reason"],
            [
                [f["flag"], f["code"], f["company_name"], f["rank"], f["ordered_amount"], f["reason"]]
                for f in review["flags"]
            ],
            left=3,
        ),
        "<h2>Key customers (R4)</h2>",
        *(
            f"<h3>Top by {label}</h3>"
            + table(
                ["code", "name", "kind", "sales", "growth", "margin"],
                [
                    [e["code"], e["company_name"], e["kind"], e["sales"], e["growth_rate"], e["margin"]]
                    for e in more["key"][key]
                ],
                left=3,
            )
            for key, label in (("by_sales", "sales"), ("by_growth", "growth"), ("by_margin", "margin"))
        ),
        "<h2>Regions (R5)</h2>",
        table(
            ["region", "customers by kind", "orders", "sales", "quantity by product"],
            [
                [
                    r["region"],
                    ", ".join(f"{k} {n}" for k, n in sorted(r["customers_by_kind"].items())),
                    r["orders"],
                    r["sales_amount"],
                    ", ".join(f"{p['product_code']} {p['quantity']}" for p in r["products"]),
                ]
                for r in more["regions"]["rows"]
            ],
            left=2,
        ),
        "<h2>Staff (R7)</h2>",
        table(
            [
                "salesperson",
                "customers developed",
                "orders",
                "amount",
                "complaints",
                "fines",
                "dismissal recs",
            ],
            [
                [
                    r["staff_id"],
                    r["customers_developed"],
                    r["orders"],
                    r["amount"],
                    r["complaints"],
                    r["fines"],
                    r["dismissal_recommendations"],
                ]
                for r in more["staff"]["rows"]
            ],
        ),
        "<p>Annual order statistics (R6): <code>/api/reports/annual-statistics?year=YYYY</code>; "
        "every report as JSON: <code>/openapi.json</code>.</p>",
    ]
    return "".join(parts)


def audit_body(aggregate_id: str, trail: dict[str, Any] | None) -> str:
    head = (
        "<h1>Audit trail (R10)</h1><nav><a href=/dashboard>dashboard</a></nav>"
        + SIGN_OUT
        + (
            '<form method=get action=/dashboard/audit><label>Id <input name=aggregate_id value="'
            + escape(aggregate_id)
            + '" size=38></label> <button type=submit>Show</button></form>'
        )
    )
    if trail is None:
        return head
    rows = [
        [
            e["at"],
            e["event_type"],
            e["aggregate_type"],
            e["version"],
            f"{e['actor']['id']} ({e['actor']['role']})" if e["actor"] else "",
            e["reason"],
            e["service"],
            e["position"],
        ]
        for e in trail["entries"]
    ]
    link = f'<p>JSON: <a href="/api/audit/{quote(aggregate_id)}">/api/audit/{escape(aggregate_id)}</a></p>'
    return (
        head
        + table(["at", "event", "aggregate", "version", "who", "why", "source", "position"], rows, left=3)
        + link
    )
