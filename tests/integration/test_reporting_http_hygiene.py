"""The reporting HTTP API never answers 500 to bad input (issue #22): each 500 schemathesis found is a
regression test here; one error body; limits; HEAD; correlation ids in JSON logs; people who sign in,
their sessions and what their roles let them read (issue #23)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _pytest.logging import LogCaptureHandler
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from services.reporting import results
from services.reporting.sessions import COOKIE
from shared.clock import FixedClock
from shared.identity.tokens import Grant, issue_token, load_signing_key
from shared.observability import JsonFormatter
from shared.settings import Settings
from tests.conftest import CREDENTIALS, Requester, logging_to, wait_for
from tests.integration.reporting_kit import Events, at, logged_all, publish, reporting_running

pytestmark = pytest.mark.integration

GENERAL_MANAGER = CREDENTIALS.token("gm-zhou", Grant("general_manager"))
FINANCE = CREDENTIALS.token("fin-zhao", Grant("finance"))
AUDITOR = CREDENTIALS.token("aud-xu", Grant("auditor"))
SALESPERSON = CREDENTIALS.token("sp-wang", Grant("salesperson", "EAST"))
REGIONAL_SALES_MANAGER = CREDENTIALS.token("sm-gao", Grant("sales_manager", "EAST"))
IDS: dict[str, str] = {}


class Served:
    def __init__(self, base: str, clock: FixedClock) -> None:
        self.base = base
        self.clock = clock

    async def get(self, path: str, token: str | None = GENERAL_MANAGER, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.base) as client:
            return await client.get(path, params=params, headers=headers)

    async def sign_in(self, token: str | bytes) -> httpx.Response:
        body = token if isinstance(token, bytes) else f"token={token}".encode()
        async with httpx.AsyncClient(base_url=self.base) as client:
            return await client.post(
                "/dashboard/login",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

    async def with_session(self, method: str, path: str, session: str, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base, cookies={COOKIE: session}) as client:
            return await client.request(method, path, params=params)


@pytest.fixture(scope="module")
async def served(nc: NATS, settings: Settings) -> AsyncIterator[Served]:
    ev = Events()
    dealer = IDS["dealer"] = ev.customer(at(2026, 10, 2), kind="dealer", code="EAST-D0007", grade="B")
    IDS["order"] = ev.order(dealer, at(2026, 11, 10), [("P-1", 2, "250.00")])
    clock = FixedClock(datetime.now(UTC))
    async with reporting_running(settings, http=True, http_port=0, clock=clock) as service:
        await publish(nc.jetstream(), settings, ev.made)
        await wait_for(lambda: logged_all(service, ev.made))
        yield Served(f"http://127.0.0.1:{service.http_port}", clock)


def assert_invalid(response: httpx.Response, field: str) -> None:
    """The one 422 body: ``Reply`` failure, code ``invalid``, naming the field; never FastAPI's ``detail``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"ok", "error"} and body["ok"] is False
    assert body["error"]["code"] == "invalid"
    assert field in [problem["field"] for problem in body["error"]["details"]["errors"]], body


# ---------------------------------------------------------------- the 500s of issue #22, each refused


async def test_a_period_before_year_1900_is_refused_422_not_500(served: Served, request_: Requester) -> None:
    for period in ("0000-01", "0001-12", "1899-12", "2200-01"):
        for report in ("distributor-monthly", "staff", "monthly-review", "regions"):
            assert_invalid(await served.get(f"/api/reports/{report}", period=period), "query.period")
    on_bus = await request_("reporting", "query", "distributor_monthly", {"period": "0000-01"})
    assert on_bus["error"]["code"] == "invalid"  # the bus refused it too (it answered "internal")


async def test_extreme_as_of_values_are_refused_422_not_500(served: Served, request_: Requester) -> None:
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-06-01T00:00:00Z"):
        answer = await served.get("/api/reports/distributor-monthly", period="2026-11", as_of=moment)
        assert_invalid(answer, "query.as_of")
    naive = await served.get("/api/reports/regions", period="2026-11", as_of="2026-11-10T12:00:00")
    assert_invalid(naive, "query.as_of")
    assert_invalid(await served.get("/api/reports/receivables", on="0001-01-01"), "query.on")
    on_bus = await request_(
        "reporting", "query", "staff", {"period": "2026-11", "as_of": "0001-01-01T00:00:00+14:00"}
    )
    assert on_bus["error"]["code"] == "invalid"


async def test_a_nul_byte_in_an_id_is_refused_422_not_500(served: Served) -> None:
    assert_invalid(await served.get("/api/audit/abc%00def"), "path.aggregate_id")
    answer = await served.get("/api/reports/distributor-monthly", period="2026-11", customer_id="a\x00b")
    assert_invalid(answer, "query.customer_id")


async def test_an_id_over_64_characters_is_refused_422_on_the_api_and_the_audit_page(served: Served) -> None:
    assert_invalid(await served.get(f"/api/audit/{'x' * 65}"), "path.aggregate_id")
    assert (await served.get(f"/api/audit/{'x' * 64}")).status_code == 200
    session = (await served.sign_in(GENERAL_MANAGER)).cookies[COOKIE]
    page = await served.with_session("GET", "/dashboard/audit", session, aggregate_id="x" * 200, lang="en")
    # the page says what is wrong (an id, code or name may be searched for there: up to 100 characters)
    assert page.status_code == 422 and "an id, code or name is 1–100" in page.text


async def test_non_utf8_bytes_posted_to_the_login_form_are_refused_400_not_500(served: Served) -> None:
    for body in (b"token=\xff\xfe\xfd", b"token=%ff%fe%fd", b"\x00\x80token", b"token=" + b"a" * 20_000):
        answer = await served.sign_in(body)
        assert answer.status_code == 400, (body[:20], answer.status_code)
        assert COOKIE not in answer.cookies


async def test_unknown_query_parameters_are_refused_422(served: Served) -> None:
    answer = await served.get("/api/reports/distributor-monthly", period="2026-11", **{"as-of": "x"})
    assert_invalid(answer, "query.as-of")
    assert answer.json()["error"]["details"]["errors"][0]["type"] == "extra_forbidden"


async def test_one_error_body_for_every_refusal(served: Served) -> None:
    missing = await served.get("/api/reports/staff")
    malformed = await served.get("/api/reports/key-customers", period="2026-11", limit="many")
    unknown_path = await served.get("/api/reports/nothing-here")
    unauthenticated = await served.get("/api/reports/staff", None, period="2026-11")
    assert_invalid(missing, "query.period")
    assert_invalid(malformed, "query.limit")
    for answer, status, code in ((unknown_path, 404, "not_found"), (unauthenticated, 401, "unauthenticated")):
        assert answer.status_code == status
        assert answer.json() == {"ok": False, "error": answer.json()["error"]}
        assert set(answer.json()["error"]) == {"code", "message", "rule", "details"}
        assert answer.json()["error"]["code"] == code
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- HEAD, correlation ids, JSON logs


async def test_head_answers_wherever_get_does_with_no_body(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        auth = {"Authorization": f"Bearer {GENERAL_MANAGER}"}
        for path in ("/api/reports/regions?period=2026-11", "/api/lag", "/dashboard/login", "/openapi.json"):
            got = await client.get(path, headers=auth)
            head = await client.head(path, headers=auth)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.headers["content-type"] == got.headers["content-type"]
            assert head.headers["content-length"] == got.headers["content-length"]
        assert (await client.head("/api/lag")).status_code == 401


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """The reporting HTTP log lines as the service's JSON handler writes them."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter("reporting"))
    with logging_to(handler, "services.reporting.http"):
        yield lines


async def test_correlation_id_is_echoed_and_written_in_the_json_access_log(
    served: Served, access_lines: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=served.base) as client:
        given = await client.get("/api/lag", headers={"X-Correlation-Id": "corr-dash-api-1"})
        made = await client.get("/api/lag")
    assert given.headers["X-Correlation-Id"] == "corr-dash-api-1"
    assert len(made.headers["X-Correlation-Id"]) == 32  # a new one when none was sent
    logged = [json.loads(line) for line in access_lines]
    mine = next(entry for entry in logged if entry.get("correlation_id") == "corr-dash-api-1")
    assert mine["http"] == {"method": "GET", "path": "/api/lag", "status": 401}
    assert any(entry.get("correlation_id") == made.headers["X-Correlation-Id"] for entry in logged)


def test_uvicorn_loggers_write_through_the_process_json_handler(served: Served) -> None:
    """uvicorn is started with ``log_config=None``: its loggers get no handler (and no plain-text
    formatter) of their own, so their lines and tracebacks reach the root's JSON handler. (Its access log is
    off: the app's own, above, carries the correlation id.)"""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        own = [h for h in logger.handlers if not isinstance(h, LogCaptureHandler)]  # pytest's are not
        assert own == [] and logger.propagate, name


# ---------------------------------------------------------------- sign-in, sessions, roles


async def test_sign_in_gives_an_opaque_httponly_samesite_strict_session_not_the_token(served: Served) -> None:
    signed_in = await served.sign_in(GENERAL_MANAGER)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dashboard"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    session = signed_in.cookies[COOKIE]
    assert GENERAL_MANAGER not in cookie and len(session) >= 40
    report = await served.with_session("GET", "/api/reports/regions", session, period="2026-11")
    assert report.status_code == 200 and report.json()["ok"]


async def test_logout_ends_the_session(served: Served) -> None:
    session = (await served.sign_in(GENERAL_MANAGER)).cookies[COOKIE]
    out = await served.with_session("POST", "/dashboard/logout", session)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    again = await served.with_session("GET", "/api/lag", session)
    assert again.status_code == 401 and again.json()["error"]["code"] == "unauthenticated"


async def test_a_session_ends_after_30_minutes_without_a_request(served: Served) -> None:
    session = (await served.sign_in(GENERAL_MANAGER)).cookies[COOKIE]
    served.clock.advance(timedelta(minutes=29))
    assert (await served.with_session("GET", "/api/lag", session)).status_code == 200
    served.clock.advance(timedelta(minutes=30, seconds=1))
    assert (await served.with_session("GET", "/api/lag", session)).status_code == 401


async def test_an_expired_or_foreign_token_is_refused_401(served: Served, tmp_path: Path) -> None:
    key = load_signing_key(Path(Settings().identity_signing_key_file).read_bytes())
    expired = issue_token(key, "gm-zhou", [Grant("general_manager")], served.clock.now() - timedelta(hours=9))
    answer = await served.get("/api/lag", expired)
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]
    assert (await served.sign_in(expired)).status_code == 401
    tampered = GENERAL_MANAGER[:-4] + ("AAAA" if not GENERAL_MANAGER.endswith("AAAA") else "BBBB")
    assert (await served.get("/api/lag", tampered)).status_code == 401


async def test_a_salesperson_may_not_read_company_reports_403(served: Served) -> None:
    answer = await served.get("/api/reports/distributor-monthly", SALESPERSON, period="2026-11")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert "general_manager" in answer.json()["error"]["details"]["allowed"]
    assert "EAST-D0007" not in answer.text
    refused = await served.sign_in(SALESPERSON)
    assert refused.status_code == 403 and COOKIE not in refused.cookies


async def test_a_role_held_in_one_region_may_not_read_company_wide_reports_403(served: Served) -> None:
    answer = await served.get("/api/reports/regions", REGIONAL_SALES_MANAGER, period="2026-11")
    assert answer.status_code == 403 and "company-wide" in answer.json()["error"]["message"]


async def test_the_audit_trail_needs_an_auditor_or_the_general_manager(served: Served) -> None:
    path = f"/api/audit/{IDS['order']}"
    assert (await served.get(path, FINANCE)).status_code == 403
    assert (await served.get("/api/reports/regions", FINANCE, period="2026-11")).status_code == 200
    trail = await served.get(path, AUDITOR)
    assert trail.status_code == 200 and trail.json()["result"]["entries"][0]["event_type"] == "OrderPlaced"


async def test_every_read_of_an_audit_trail_is_recorded_and_listed_for_auditors(served: Served) -> None:
    dealer = IDS["dealer"]
    assert (await served.get(f"/api/audit/{dealer}", AUDITOR)).status_code == 200
    session = (await served.sign_in(GENERAL_MANAGER)).cookies[COOKIE]
    page = await served.with_session("GET", "/dashboard/audit", session, aggregate_id=dealer)
    assert page.status_code == 200
    listed = await served.get("/api/personal-data-reads", AUDITOR, subject=dealer)
    reads = listed.json()["result"]["reads"]
    assert [(r["user"], r["roles"], r["what"]) for r in reads[:2]] == [
        ("gm-zhou", ["general_manager"], "audit_trail"),  # the latest first
        ("aud-xu", ["auditor"], "audit_trail"),
    ]
    assert {r["subject"] for r in reads} == {dealer}
    assert (await served.get("/api/personal-data-reads", FINANCE)).status_code == 403


async def test_a_read_of_the_audit_trail_over_the_bus_is_recorded_too(
    served: Served, request_: Requester
) -> None:
    answer = await request_("reporting", "query", "audit_trail", {"aggregate_id": IDS["order"]})
    assert answer["ok"]
    listed = await served.get("/api/personal-data-reads", AUDITOR, subject=IDS["order"], limit=1)
    (latest,) = listed.json()["result"]["reads"]
    assert (latest["user"], latest["roles"]) == ("salesops-client", ["general_manager"])  # the bus's reader


# ---------------------------------------------------------------- OpenAPI and typed results


async def test_openapi_declares_security_refusals_limits_and_typed_results(served: Served) -> None:
    document = (await served.get("/openapi.json", None)).json()
    assert set(document["components"]["securitySchemes"]) == {"bearerJwt", "sessionCookie"}
    for path, operations in document["paths"].items():
        operation = operations["get"]
        assert {"200", "401", "403", "422"} <= set(operation["responses"]), path
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Refusal"
        }
        result_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert result_ref.endswith("Result_"), path
        assert operation["security"] == [{"bearerJwt": []}, {"sessionCookie": []}]
    audit = document["paths"]["/api/audit/{aggregate_id}"]["get"]["parameters"][0]["schema"]
    assert (audit["maxLength"], audit["pattern"]) == (64, "^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    period = document["paths"]["/api/reports/staff"]["get"]["parameters"][0]["schema"]
    assert period["pattern"].startswith("^(19|20|21)")


REPORTS: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    ("/api/reports/distributor-monthly", {"period": "2026-11"}, results.DistributorMonthlyResult),
    ("/api/reports/branch-monthly", {"period": "2026-11"}, results.BranchMonthlyResult),
    ("/api/reports/key-customers", {"period": "2026-11"}, results.KeyCustomersResult),
    ("/api/reports/regions", {"period": "2026-11"}, results.RegionsResult),
    ("/api/reports/annual-statistics", {"year": 2026}, results.AnnualStatisticsResult),
    ("/api/reports/staff", {"period": "2026-11"}, results.StaffResult),
    ("/api/reports/monthly-review", {"period": "2026-11"}, results.MonthlyReviewResult),
    ("/api/reports/receivables", {"on": "2026-12-20"}, results.ReceivablesResult),
    ("/api/alerts", {}, results.AlertsResult),
    ("/api/lag", {}, results.LagResult),
]


async def test_every_report_answers_what_its_result_model_says(served: Served) -> None:
    audit: tuple[str, dict[str, Any], type[BaseModel]] = (
        f"/api/audit/{IDS['order']}",
        {},
        results.AuditTrailResult,
    )
    for path, params, model in [*REPORTS, audit]:
        answer = await served.get(path, **params)
        assert answer.status_code == 200, (path, answer.text)
        typed = model.model_validate(answer.json()["result"])
        assert typed.model_dump(mode="json", exclude_unset=True).keys() == answer.json()["result"].keys()
    rows = (await served.get("/api/reports/distributor-monthly", period="2026-11")).json()["result"]["rows"]
    dealer = results.DistributorRow.model_validate(next(r for r in rows if r["customer_id"] == IDS["dealer"]))
    assert (dealer.orders, dealer.ordered_amount) == (1, "500.00")
