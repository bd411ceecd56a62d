"""Reporting over HTTP: every report as JSON (OpenAPI at ``/openapi.json``) and the dashboard's pages.

Reads need the token (``SALESOPS_REPORTING_TOKEN``): ``Authorization: Bearer <token>`` for the API; the
dashboard asks for it once and keeps it in an HttpOnly cookie. The dashboard (``dashboard/``) is rendered
on the server, no script and nothing from a CDN, so it works offline. The interactive API
docs pages are off for the same reason (they load their scripts from CDNs).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ValidationError

from services.reporting import api as q
from services.reporting.api import Reports
from services.reporting.consumption import Consumption
from services.reporting.dashboard import dashboard_router, login_page
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


def create_app(
    reports: Reports, token: str, clock: Clock | None = None, consumption: Consumption | None = None
) -> FastAPI:
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

    # The pages (server-rendered, no script); who reads them is decided by ``authorised`` for now.
    def viewer(request: Request) -> str | None:
        return "manager" if authorised(request) else None

    app.include_router(dashboard_router(reports, clock, viewer, consumption))

    @app.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # A plain urlencoded form, parsed here (FastAPI's Form() would need python-multipart).
        token_given = parse_qs((await request.body()).decode()).get("token", [""])[0]
        if not hmac.compare_digest(token_given.encode(), token.encode()):
            return login_page(request, "wrong_token")
        response = RedirectResponse("/dashboard", 303)
        response.set_cookie(COOKIE, token_given, httponly=True, samesite="strict")
        return response

    return app
