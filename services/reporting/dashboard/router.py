"""The dashboard's routes: server-rendered pages (Jinja2 templates, no script, nothing from a CDN), each
table sortable, filterable and exportable (``?format=csv|xlsx&table=<name>``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from services.reporting import api as q
from services.reporting import periods
from services.reporting.api import Reports
from services.reporting.consumption import Consumption
from services.reporting.dashboard import fmt
from services.reporting.dashboard.chart import trend_svg
from services.reporting.dashboard.customer import audit_page, customer_page
from services.reporting.dashboard.field_pages import FIELD_PAGES, SPANS
from services.reporting.dashboard.i18n import COOKIE, Words, choose
from services.reporting.dashboard.pages import PERIOD_PAGES, Page, View, alerts, ops, overview
from services.reporting.sessions import AUDIT_READERS, REPORT_READERS, Viewer, viewer
from shared.clock import Clock
from shared.identity.scope import acting_as

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Dates the period arithmetic (and Python's datetime) can hold with a year either side.
YEARS = range(1901, 9999)
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
ID_LIMIT = 100
EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PAGES = {**PERIOD_PAGES, **FIELD_PAGES}
NAV = ("overview", *PAGES, "alerts", "ops")


class BadView(ValueError):
    """The reader's period, year, as-of or id cannot be read; the page names it (422). ``args[0]``: the
    word (``i18n.WORDS``) saying what is wrong."""

    @property
    def problem(self) -> str:
        return str(self.args[0])


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    words = Words(choose(request))
    kept = {k: request.query_params[k] for k in ("period", "as_of") if request.query_params.get(k)}

    def here(**changes: Any) -> str:
        """This page's address with some query parameters changed (None drops one)."""
        params = {**dict(request.query_params), **changes}
        params.pop("lang", None)
        return request.url.path + "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    def keep(url: str) -> str:
        """A link to another page that keeps the period and "as of" unless it names its own."""
        path, _, query = url.partition("?")
        params = {**kept, **dict(parse_qsl(query))}
        return path + ("?" + urlencode(params) if params else "")

    def page_link(name: str) -> str:
        return keep("/dashboard" if name == "overview" else f"/dashboard/{name}")

    html = TEMPLATES.get_template(template).render(
        w=words,
        lang=words.lang,
        fmt=fmt,
        here=here,
        here_params=dict(request.query_params),
        page_link=page_link,
        keep=keep,
        nav=NAV,
        **context,
    )
    response = HTMLResponse(html, status)
    if request.query_params.get("lang") == words.lang:
        response.set_cookie(COOKIE, words.lang, max_age=365 * 24 * 3600, samesite="lax")
    return response


def login_page(request: Request, problem: str = "", status: int = 401) -> HTMLResponse:
    """The sign-in page; ``problem`` a word of ``i18n.WORDS`` or a refusal's message."""
    return render(request, "login.html", status, problem=problem, viewer=None)


async def reader(request: Request) -> Viewer | None:
    """Who reads this page (None: nobody signed in, the sign-in page is shown); a person signed in without
    a reading role is refused (403, ``sessions.REPORT_READERS``)."""
    who = await viewer(request)
    if who is not None:
        who.require(REPORT_READERS, "the reports")
    return who


def read_view(request: Request, clock: Clock, reports: Reports) -> View:
    params = request.query_params
    period = params.get("period") or periods.period_of(clock.now(), reports.mode)
    if not PERIOD.fullmatch(period) or int(period[:4]) not in YEARS:
        raise BadView("bad_period")
    moment: datetime | None = None
    if params.get("as_of"):
        try:
            moment = datetime.fromisoformat(params["as_of"])
        except ValueError as error:
            raise BadView("bad_as_of") from error
        if moment.tzinfo is None or moment.year not in YEARS:
            raise BadView("bad_as_of")
    year = params.get("year") or period[:4]
    if not year.isdigit() or int(year) not in YEARS:
        raise BadView("bad_year")
    span = params.get("span") or "month"
    if span not in SPANS:
        raise BadView("bad_span")
    return View(period, moment, int(year), span)


def read_id(value: str) -> str:
    """An id, code or name as typed: at most 100 characters and no control characters."""
    text = value.strip()
    if not text or len(text) > ID_LIMIT or any(ord(ch) < 32 for ch in text):
        raise BadView("bad_id")
    return text


def respond(request: Request, page: Page, view: View, who: Viewer, mode: Any) -> Response:
    params: Mapping[str, str] = request.query_params
    words = Words(choose(request))
    grids = [grid.narrowed(params) for grid in page.grids]
    wanted = params.get("format")
    if wanted in EXPORTS:
        grid = next((g for g in grids if g.name == params.get("table")), grids[0])
        body = grid.csv(words) if wanted == "csv" else grid.xlsx(words)
        name = f"{grid.name}-{view.period}.{wanted}"
        return Response(
            body, media_type=EXPORTS[wanted], headers={"Content-Disposition": f"attachment; filename={name}"}
        )
    extra = dict(page.extra)
    if "trend" in extra:
        points = [(p["period"], Decimal(p["net_sales"])) for p in extra["trend"]]
        money = {p["period"]: fmt.money(p["net_sales"]) for p in extra["trend"]}
        extra["chart"] = trend_svg(points, words("trend"), money)
    return render(
        request,
        page.template,
        page=page,
        grids=grids,
        view=view,
        viewer=who.user,
        span=fmt.period_span(view.period, mode, words.lang),
        previous=periods.previous(view.period),
        following=periods.following(view.period),
        **extra,
    )


def dashboard_router(reports: Reports, clock: Clock, consumption: Consumption | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def show(request: Request, build: Callable[[View], Any]) -> Response:
        who = await reader(request)
        if who is None:
            return login_page(request)
        try:
            view = read_view(request, clock, reports)
            page: Page = await build(view)
        except BadView as bad:
            return render(request, "problem.html", 422, viewer=who.user, problem=bad.problem)
        except ValidationError:  # a year or id the reports refuse (R6's years, an id's length)
            return render(request, "problem.html", 422, viewer=who.user, problem="bad_query")
        return respond(request, page, view, who, reports.mode)

    @router.get("/", response_class=HTMLResponse)
    async def root() -> Response:
        return RedirectResponse("/dashboard", 303)

    @router.get("/dashboard", response_class=HTMLResponse)
    async def overview_page(request: Request) -> Response:
        return await show(request, lambda view: overview(reports, view))

    async def looked_up(request: Request, typed: str) -> Response | list[dict[str, Any]]:
        """The customers found by what the reader typed (an id, code or name); instead, the page to show
        when nobody is signed in or what was typed cannot be read; when not exactly one customer is found,
        the list to choose from (none: 404)."""
        who = await reader(request)
        if who is None:
            return login_page(request)
        try:
            text = read_id(typed)
        except BadView as bad:
            return render(request, "problem.html", 422, viewer=who.user, problem=bad.problem)
        found: list[dict[str, Any]] = (await reports.find_customers(q_find(text)))["customers"]
        if len(found) == 1:
            return found
        return render(request, "found.html", 200 if found else 404, viewer=who.user, text=text, found=found)

    @router.get("/dashboard/customer", response_class=HTMLResponse)
    async def find(request: Request, q: str = "") -> Response:
        """A customer by id, code or name: one match opens its page, several are listed to choose from."""
        found = await looked_up(request, q)
        if isinstance(found, Response):
            return found
        return RedirectResponse(f"/dashboard/customer/{found[0]['customer_id']}", 303)

    @router.get("/dashboard/customer/{ref}", response_class=HTMLResponse)
    async def customer(request: Request, ref: str) -> Response:
        found = await looked_up(request, ref)
        if isinstance(found, Response):
            return found
        return await show(request, lambda view: customer_page(reports, view, found[0]))

    @router.get("/dashboard/audit", response_class=HTMLResponse)
    async def audit(request: Request, aggregate_id: str = "") -> Response:
        who = await reader(request)
        if who is None:
            return login_page(request)
        if not aggregate_id:
            return render(
                request,
                "audit.html",
                viewer=who.user,
                page=Page("audit_trail", []),
                grids=[],
                aggregate_id="",
            )
        who.require(AUDIT_READERS, "the audit trail")
        try:
            chosen = read_id(aggregate_id)
        except BadView as bad:
            return render(request, "problem.html", 422, viewer=who.user, problem=bad.problem)
        with acting_as(who.acting()):  # the read of personal data is recorded under the reader's name (#23)
            return await show(request, lambda view: audit_page(reports, chosen))

    @router.get("/dashboard/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request) -> Response:
        return await show(request, lambda view: alerts(reports, consumption))

    @router.get("/dashboard/ops", response_class=HTMLResponse)
    async def operations(request: Request) -> Response:
        return await show(request, lambda view: ops(reports, consumption))

    for name, build in PAGES.items():
        router.add_api_route(
            f"/dashboard/{name}", _period_route(show, reports, build), response_class=HTMLResponse
        )
    return router


def q_find(text: str) -> q.FindCustomers:
    return q.FindCustomers(text=text)


def _period_route(
    show: Callable[..., Any], reports: Reports, build: Callable[..., Any]
) -> Callable[..., Any]:
    async def route(request: Request) -> Response:
        return await show(request, lambda view: build(reports, view))  # type: ignore[no-any-return]

    return route
