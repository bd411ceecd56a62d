"""Reporting over HTTP: every report as JSON (OpenAPI at ``/openapi.json``) and the ops dashboard.

Reads need the token (``SALESOPS_REPORTING_TOKEN``): ``Authorization: Bearer <token>`` for the API; the
dashboard asks for it once and keeps it in an HttpOnly cookie. The dashboard is rendered on the server,
plain HTML and inline CSS, no script and nothing from a CDN, so it works offline. The interactive API
docs pages are off for the same reason (they load their scripts from CDNs).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ValidationError

from services.reporting import api as q
from services.reporting import field_api
from services.reporting.api import Reports
from services.reporting.periods import period_of
from shared.bus import invalid_reply
from shared.clock import Clock, SystemClock
from shared.contracts import ErrorBody, ErrorCode, Reply
from shared.errors import DomainError

COOKIE = "salesops_reporting_token"
PeriodParam = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="period YYYY-MM (R1)")]
AsOfParam = Annotated[AwareDatetime | None, Query(description="the report as it stood at this moment (R9)")]


class Unauthorized(Exception):
    pass


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_app(reports: Reports, token: str, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    app = FastAPI(
        title="salesops reporting",
        version="1.0",
        description="Monthly distributor and branch projections, key customers, regions, annual statistics, "
        "staff, monthly review (R2–R8), audit trail (R10); any period report as of a past moment (R9).",
        docs_url=None,
        redoc_url=None,
    )

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        given = given or request.cookies.get(COOKIE)
        return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())

    def require_token(request: Request) -> None:
        if not authorised(request):
            raise Unauthorized

    @app.exception_handler(Unauthorized)
    async def on_unauthorized(request: Request, exc: Unauthorized) -> Response:
        error = ErrorBody(code=ErrorCode.UNAUTHORIZED, message="reading reports needs the reporting token")
        response = json_response(Reply.failure(error).to_json(), 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def run(
        handler: Callable[[Any], Awaitable[dict[str, Any]]], model: type[BaseModel], **fields: Any
    ) -> Response:
        try:
            body = model(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as error:
            return json_response(invalid_reply(error), 422)
        try:
            return json_response(Reply.success_json(await handler(body)))
        except DomainError as error:
            return json_response(Reply.failure(ErrorBody.of(error)).to_json(), 400)

    field = field_api.FieldReports(reports)
    auth = [Depends(require_token)]
    doc: dict[str, Any] = {
        "dependencies": auth,
        "response_class": Response,
        "responses": {200: {"model": Reply[dict[str, Any]]}},
    }

    @app.get("/api/reports/distributor-monthly", tags=["reports"], summary="R2 monthly distributors", **doc)
    async def distributor_monthly(
        period: PeriodParam, customer_id: str | None = None, as_of: AsOfParam = None
    ) -> Response:
        return await run(
            reports.distributor_monthly,
            q.DistributorMonthly,
            period=period,
            customer_id=customer_id,
            as_of=as_of,
        )

    @app.get("/api/reports/branch-monthly", tags=["reports"], summary="R3 monthly branches", **doc)
    async def branch_monthly(
        period: PeriodParam, customer_id: str | None = None, as_of: AsOfParam = None
    ) -> Response:
        return await run(
            reports.branch_monthly, q.BranchMonthly, period=period, customer_id=customer_id, as_of=as_of
        )

    @app.get("/api/reports/key-customers", tags=["reports"], summary="R4 key customers", **doc)
    async def key_customers(period: PeriodParam, limit: int = 10, as_of: AsOfParam = None) -> Response:
        return await run(reports.key_customers, q.KeyCustomers, period=period, limit=limit, as_of=as_of)

    @app.get("/api/reports/regions", tags=["reports"], summary="R5 regions", **doc)
    async def regions(period: PeriodParam, as_of: AsOfParam = None) -> Response:
        return await run(reports.regions, q.Regions, period=period, as_of=as_of)

    @app.get("/api/reports/annual-statistics", tags=["reports"], summary="R6 annual order statistics", **doc)
    async def annual(year: int, customer_id: str | None = None, as_of: AsOfParam = None) -> Response:
        return await run(reports.annual, q.AnnualStatistics, year=year, customer_id=customer_id, as_of=as_of)

    @app.get("/api/reports/staff", tags=["reports"], summary="R7 staff", **doc)
    async def staff(period: PeriodParam, as_of: AsOfParam = None) -> Response:
        return await run(reports.staff, q.StaffReport, period=period, as_of=as_of)

    @app.get("/api/reports/monthly-review", tags=["reports"], summary="R8 monthly review flags", **doc)
    async def monthly_review(period: PeriodParam, as_of: AsOfParam = None) -> Response:
        return await run(reports.monthly_review, q.MonthlyReview, period=period, as_of=as_of)

    @app.get(
        "/api/reports/receivables", tags=["reports"], summary="R12 receivables ageing, credit used", **doc
    )
    async def receivables_ageing(
        on: date | None = None, customer_id: str | None = None, as_of: AsOfParam = None
    ) -> Response:
        return await run(reports.receivables, q.Receivables, on=on, customer_id=customer_id, as_of=as_of)

    @app.get("/api/alerts", tags=["reports"], summary="R12 alerts (R1 unsigned periods, O11, O6, O7)", **doc)
    async def alerts() -> Response:
        return await run(reports.alerts, q.Alerts)

    @app.get("/api/reports/signed", tags=["reports"], summary="R1 signed-off report and adjustments", **doc)
    async def signed_report(period: PeriodParam) -> Response:
        return await run(reports.signed_report, q.SignedReport, period=period)

    @app.get("/api/audit/{aggregate_id}", tags=["audit"], summary="R10 audit trail", **doc)
    async def audit(aggregate_id: str, related: bool = True) -> Response:
        return await run(reports.audit_trail, q.AuditTrail, aggregate_id=aggregate_id, related=related)

    @app.get("/api/lag", tags=["ops"], summary="consumed position per source", **doc)
    async def lag() -> Response:
        return await run(reports.lag, q.Lag)

    # R11, R13: the field reports (a year, or one quarter or month of it)
    @app.get("/api/reports/field-targets", tags=["reports"], summary="R11 targets vs net sales", **doc)
    async def field_targets(
        year: int, quarter: int | None = None, month: int | None = None, as_of: AsOfParam = None
    ) -> Response:
        span = {"year": year, "quarter": quarter, "month": month, "as_of": as_of}
        return await run(field.targets, field_api.FieldTargets, **span)

    @app.get("/api/reports/field-visits", tags=["reports"], summary="R13 visit plan vs actual", **doc)
    async def field_visits(month: PeriodParam, as_of: AsOfParam = None) -> Response:
        return await run(field.visits, field_api.FieldVisits, month=month, as_of=as_of)

    @app.get("/api/reports/field-expenses", tags=["reports"], summary="R13 expenses, expense ratio", **doc)
    async def field_expenses(
        year: int, quarter: int | None = None, month: int | None = None, as_of: AsOfParam = None
    ) -> Response:
        span = {"year": year, "quarter": quarter, "month": month, "as_of": as_of}
        return await run(field.expenses, field_api.FieldExpenses, **span)

    # ------------------------------------------------------------ dashboard (server-rendered, no script)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/dashboard", 303)

    @app.get("/dashboard", include_in_schema=False, response_class=HTMLResponse)
    async def dashboard(request: Request, period: str | None = None, as_of: str | None = None) -> Response:
        if not authorised(request):
            return HTMLResponse(login_page(), 401)
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
                    "<p class=error>period must be YYYY-MM and as-of an ISO "
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

    @app.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # A plain urlencoded form, parsed here (FastAPI's Form() would need python-multipart).
        token_given = parse_qs((await request.body()).decode()).get("token", [""])[0]
        if not hmac.compare_digest(token_given.encode(), token.encode()):
            return HTMLResponse(login_page("wrong token"), 401)
        response = RedirectResponse("/dashboard", 303)
        response.set_cookie(COOKIE, token_given, httponly=True, samesite="strict")
        return response

    @app.get("/dashboard/audit", include_in_schema=False, response_class=HTMLResponse)
    async def audit_page(request: Request, aggregate_id: str = "") -> Response:
        if not authorised(request):
            return HTMLResponse(login_page(), 401)
        trail = await reports.audit_trail(q.AuditTrail(aggregate_id=aggregate_id)) if aggregate_id else None
        return HTMLResponse(page("audit trail", audit_body(aggregate_id, trail)))

    return app


# ---------------------------------------------------------------- HTML

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}h3{font-size:.95rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.error{color:#b00}.flag-reward{color:#070}
.flag-channel_optimisation{color:#b60}form{display:inline-block;margin-right:1rem}nav a{margin-right:1rem}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def login_page(problem: str = "") -> str:
    error = f"<p class=error>{escape(problem)}</p>" if problem else ""
    return page(
        "salesops reporting: sign in",
        "<h1>salesops reporting</h1><p>Reading the reports needs the reporting token.</p>"
        + error
        + "<form method=post action=/dashboard/login><label>Token <input type=password name=token id=token "
        "autocomplete=current-password required></label> <button type=submit>Open dashboard</button></form>",
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
    head = "<h1>Audit trail (R10)</h1><nav><a href=/dashboard>dashboard</a></nav>" + (
        '<form method=get action=/dashboard/audit><label>Id <input name=aggregate_id value="'
        + escape(aggregate_id)
        + '" size=38></label> <button type=submit>Show</button></form>'
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
