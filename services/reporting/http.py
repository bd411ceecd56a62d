"""Reporting over HTTP: every report as JSON (OpenAPI at ``/openapi.json``), the sign-in, and the dashboard.

Who reads: a person signed in (session cookie, ``services.reporting.sessions``) or a program sending
``Authorization: Bearer <jwt>``, verified as the bus verifies it; the roles allowed are in ``sessions``.
Every refusal is the one error body of ``http_errors``; every parameter has the limits the OpenAPI
document states, and a parameter a route does not take is refused. ``HEAD`` is answered wherever ``GET``
is, and every request is logged as a JSON line with its correlation id (``http_middleware``). The
interactive API docs pages are off: they load their scripts from CDNs, and the dashboard works offline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from services.reporting import api as q
from services.reporting import field_api
from services.reporting import results as r
from services.reporting.api import Reports
from services.reporting.consumption import Consumption
from services.reporting.dashboard import dashboard_router, login_page
from services.reporting.http_errors import error_responses, install_error_handlers, invalid
from services.reporting.http_errors import field_problems as problems_of
from services.reporting.http_middleware import CorrelatedAccessLog, refuse_unknown_parameters
from services.reporting.sessions import COOKIE, IDLE, LASTING, Sessions, SignIn, Viewer, auditor, reader
from shared.clock import Clock, SystemClock
from shared.contracts import Reply
from shared.identity.scope import acting_as
from shared.identity.verify import Verifier

PeriodParam = Annotated[
    str,
    Query(
        pattern=q.PERIOD_PATTERN,
        max_length=7,
        examples=["2026-11"],
        description="period YYYY-MM, 1900-01 to 2199-12 (R1)",
    ),
]
YEARS_1900_TO_2199 = r"^(19|20|21)[0-9]{2}-"


def _dated(length: int, kind: str, description: str) -> Any:
    """Moments and days as the API takes them: RFC 3339, years 1900 to 2199 (parsed by the query models)."""
    return Query(
        pattern=YEARS_1900_TO_2199,
        max_length=length,
        json_schema_extra={"format": kind},
        description=description,
    )


AsOfParam = Annotated[
    str | None,
    _dated(40, "date-time", "the report as it stood at this moment (R9): RFC 3339 with its UTC offset, years "
           "1900 to 2199"),
]  # fmt: skip
DayParam = Annotated[
    str | None,
    _dated(10, "date", "the business day to age on (YYYY-MM-DD, years 1900 to 2199); today when not given"),
]
CustomerParam = Annotated[
    str | None,
    Query(min_length=1, max_length=q.ID_MAX, pattern=q.ID_PATTERN, description="one customer's row"),
]
SpanParam = Annotated[
    str,
    Query(
        pattern=r"^(20[0-9]{2}|2100)(-Q[1-4]|-(0[1-9]|1[0-2]))?$",
        max_length=7,
        examples=["2027", "2027-Q1", "2027-03"],
        description="a year of the plan (S1), or one quarter (YYYY-Qn) or month (YYYY-MM) of it",
    ),
]


def span_of(span: str) -> dict[str, int | None]:
    """``2027`` / ``2027-Q1`` / ``2027-03`` as the field queries' year, quarter and month."""
    year, _, part = span.partition("-")
    quarter = int(part[1:]) if part.startswith("Q") else None
    month = int(part) if part and quarter is None else None
    return {"year": int(year), "quarter": quarter, "month": month}


BEARER_SCHEME = "bearerJwt"
COOKIE_SCHEME = "sessionCookie"


def json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def create_app(
    reports: Reports,
    verifier: Verifier,
    clock: Clock | None = None,
    idle: timedelta = IDLE,
    lasting: timedelta = LASTING,
    consumption: Consumption | None = None,
) -> FastAPI:
    clock = clock or SystemClock()
    app = FastAPI(
        title="salesops reporting",
        version="2.0",
        description="Monthly distributor and branch projections, key customers, regions, annual statistics, "
        "staff, monthly review (R2–R8), receivables and alerts (R12), audit trail (R10); any period report "
        "as of a past moment (R9). Sign in at /dashboard/login (session cookie) or send "
        "'Authorization: Bearer <jwt>'. Every refusal is the error body shown (`ok: false`); HEAD is "
        "answered wherever GET is; X-Correlation-Id is accepted and echoed.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(CorrelatedAccessLog)
    sign_in = SignIn(verifier, Sessions(clock, idle, lasting), login_page)
    app.state.sign_in = sign_in
    app.include_router(sign_in.router)

    async def run(
        handler: Callable[[Any], Awaitable[dict[str, Any]]], model: type[BaseModel], **fields: Any
    ) -> Response:
        try:
            body = model(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as error:
            # a limit the query model holds beyond the parameter's own (as_of's years, say)
            return invalid(problems_of([{**e, "loc": ("query", *e["loc"])} for e in error.errors()]))
        return json_response(Reply.success_json(await handler(body)))

    field = field_api.FieldReports(reports)

    def doc(result: type[BaseModel], *refusals: int, audit: bool = False) -> dict[str, Any]:
        return {
            # a parameter the route does not take is refused before anything else (the pages read their own)
            "dependencies": [Depends(refuse_unknown_parameters), Depends(auditor if audit else reader)],
            "response_class": Response,
            "responses": {
                200: {"model": Reply[result], "description": "the report (`ok: true`)"},  # type: ignore[valid-type]
                **error_responses(401, 403, 422, *refusals),
            },
            "openapi_extra": {"security": [{BEARER_SCHEME: []}, {COOKIE_SCHEME: []}]},
        }

    def period_report(
        name: str, summary: str, handler: Callable[[Any], Awaitable[dict[str, Any]]], model: type[BaseModel],
        result: type[BaseModel], spans: bool = False,
    ) -> None:  # fmt: skip
        """A report asked for by period (or, with ``spans``, by a field plan's span) and ``as_of`` alone."""

        async def by_period(period: PeriodParam, as_of: AsOfParam = None) -> Response:
            return await run(handler, model, period=period, as_of=as_of)

        async def by_span(span: SpanParam, as_of: AsOfParam = None) -> Response:
            return await run(handler, model, **span_of(span), as_of=as_of)

        path = f"/api/reports/{name.replace('_', '-')}"
        app.add_api_route(path, by_span if spans else by_period, methods=["GET"], name=name,
                          tags=["reports"], summary=summary, **doc(result))  # fmt: skip

    @app.get("/api/reports/distributor-monthly", tags=["reports"], summary="R2 monthly distributors",
             **doc(r.DistributorMonthlyResult))  # fmt: skip
    async def distributor_monthly(
        period: PeriodParam, customer_id: CustomerParam = None, as_of: AsOfParam = None
    ) -> Response:
        return await run(
            reports.distributor_monthly,
            q.DistributorMonthly,
            period=period,
            customer_id=customer_id,
            as_of=as_of,
        )

    @app.get("/api/reports/branch-monthly", tags=["reports"], summary="R3 monthly branches",
             **doc(r.BranchMonthlyResult))  # fmt: skip
    async def branch_monthly(
        period: PeriodParam, customer_id: CustomerParam = None, as_of: AsOfParam = None
    ) -> Response:
        return await run(
            reports.branch_monthly, q.BranchMonthly, period=period, customer_id=customer_id, as_of=as_of
        )

    @app.get("/api/reports/key-customers", tags=["reports"], summary="R4 key customers",
             **doc(r.KeyCustomersResult))  # fmt: skip
    async def key_customers(
        period: PeriodParam, limit: Annotated[int, Query(ge=1, le=100)] = 10, as_of: AsOfParam = None
    ) -> Response:
        return await run(reports.key_customers, q.KeyCustomers, period=period, limit=limit, as_of=as_of)

    period_report("regions", "R5 regions", reports.regions, q.Regions, r.RegionsResult)

    @app.get("/api/reports/annual-statistics", tags=["reports"], summary="R6 annual order statistics",
             **doc(r.AnnualStatisticsResult))  # fmt: skip
    async def annual(
        year: Annotated[int, Query(ge=q.FIRST_YEAR, le=q.LAST_YEAR)],
        customer_id: CustomerParam = None,
        as_of: AsOfParam = None,
    ) -> Response:
        return await run(reports.annual, q.AnnualStatistics, year=year, customer_id=customer_id, as_of=as_of)

    period_report("staff", "R7 staff", reports.staff, q.StaffReport, r.StaffResult)
    period_report(
        "monthly_review", "R8 monthly review flags", reports.monthly_review, q.MonthlyReview,
        r.MonthlyReviewResult,
    )  # fmt: skip

    @app.get("/api/reports/receivables", tags=["reports"], summary="R12 receivables ageing, credit used",
             **doc(r.ReceivablesResult))  # fmt: skip
    async def receivables_ageing(
        on: DayParam = None,
        customer_id: CustomerParam = None,
        as_of: AsOfParam = None,
    ) -> Response:
        return await run(reports.receivables, q.Receivables, on=on, customer_id=customer_id, as_of=as_of)

    @app.get("/api/alerts", tags=["reports"], summary="R12 alerts (R1, O11, O6, O7, O9, P7–P9, C11, C12)",
             **doc(r.AlertsResult))  # fmt: skip
    async def alerts() -> Response:
        return await run(reports.alerts, q.Alerts)

    @app.get("/api/reports/signed", tags=["reports"], summary="R1 signed-off report and adjustments",
             **doc(r.SignedReportResult, 404))  # fmt: skip
    async def signed_report(period: PeriodParam) -> Response:
        return await run(reports.signed_report, q.SignedReport, period=period)

    @app.get("/api/audit/{aggregate_id}", tags=["audit"], summary="R10 audit trail",
             **doc(r.AuditTrailResult, audit=True))  # fmt: skip
    async def audit(
        who: Annotated[Viewer, Depends(auditor)],
        aggregate_id: Annotated[str, Path(min_length=1, max_length=q.ID_MAX, pattern=q.ID_PATTERN)],
        related: bool = True,
    ) -> Response:
        with acting_as(who.acting()):  # the read is recorded under the reader's name (#23)
            return await run(reports.audit_trail, q.AuditTrail, aggregate_id=aggregate_id, related=related)

    @app.get("/api/personal-data-reads", tags=["audit"], summary="who read personal data (#23)",
             **doc(r.PersonalDataReadsResult, audit=True))  # fmt: skip
    async def personal_data_reads(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, subject: CustomerParam = None
    ) -> Response:
        return await run(reports.personal_data_reads, q.PersonalDataReads, limit=limit, subject=subject)

    @app.get("/api/lag", tags=["ops"], summary="consumed position per source", **doc(r.LagResult))
    async def lag() -> Response:
        return await run(reports.lag, q.Lag)

    # R11, R13: the field reports (a year, or one quarter or month of it)
    period_report(
        "field_targets", "R11 targets vs net sales", field.targets, field_api.FieldTargets,
        field_api.TargetsResult, spans=True,
    )  # fmt: skip

    @app.get("/api/reports/field-visits", tags=["reports"], summary="R13 visit plan vs actual",
             **doc(field_api.VisitsResult))  # fmt: skip
    async def field_visits(month: PeriodParam, as_of: AsOfParam = None) -> Response:
        return await run(field.visits, field_api.FieldVisits, month=month, as_of=as_of)

    period_report(
        "field_expenses", "R13 expenses, expense ratio", field.expenses, field_api.FieldExpenses,
        field_api.ExpensesResult, spans=True,
    )  # fmt: skip
    period_report(
        "service_figures", "P8, P9 per region and staff", reports.service_figures, q.ServiceFigures,
        r.ServiceFiguresResult,
    )  # fmt: skip

    app.include_router(dashboard_router(reports, clock, consumption))
    app.openapi = lambda: secured_openapi(app)  # type: ignore[method-assign]
    return app


def secured_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the two ways of proving who reads (its security schemes)."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        document.setdefault("components", {})["securitySchemes"] = {
            BEARER_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "a personal token: ./salesops token issue, or the OpenID Connect provider's",
            },
            COOKIE_SCHEME: {
                "type": "apiKey",
                "in": "cookie",
                "name": COOKIE,
                "description": "the session of POST /dashboard/login (form field token)",
            },
        }
        app.openapi_schema = document
    return app.openapi_schema
