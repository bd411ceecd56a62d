"""Reporting's sessions (idle and absolute expiry, logout), the sign-in form's parsing, and the error body
of an unexpected failure (issues #22, #23)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.reporting.http_errors import install_error_handlers
from services.reporting.sessions import Sessions, Viewer, personal_token
from shared.clock import FixedClock
from shared.errors import Forbidden
from shared.identity.tokens import Grant, Identity
from shared.observability import JsonFormatter

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def identity(hours: float = 24) -> Identity:
    return Identity("gm-zhou", (Grant("general_manager"),), (START + timedelta(hours=hours)).timestamp())


def test_a_session_ends_after_its_idle_time_without_a_request() -> None:
    clock = FixedClock(START)
    sessions = Sessions(clock, idle=timedelta(minutes=30), lasting=timedelta(hours=8))
    session = sessions.open(identity())
    clock.advance(timedelta(minutes=29))
    assert sessions.viewer(session) == Viewer("gm-zhou", (Grant("general_manager"),))
    clock.advance(timedelta(minutes=29))  # each request restarts the idle time
    assert sessions.viewer(session) is not None
    clock.advance(timedelta(minutes=30))
    assert sessions.viewer(session) is None


def test_a_session_ends_at_its_absolute_end_however_busy() -> None:
    clock = FixedClock(START)
    sessions = Sessions(clock, idle=timedelta(minutes=30), lasting=timedelta(hours=8))
    session = sessions.open(identity())
    for _ in range(8 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert sessions.viewer(session) is not None
    clock.advance(timedelta(minutes=20))  # 8 hours after sign-in
    assert sessions.viewer(session) is None


def test_a_session_ends_when_the_token_it_was_opened_with_expires() -> None:
    clock = FixedClock(START)
    sessions = Sessions(clock, idle=timedelta(hours=2), lasting=timedelta(hours=8))
    session = sessions.open(identity(hours=1))
    clock.advance(timedelta(minutes=59))
    assert sessions.viewer(session) is not None
    clock.advance(timedelta(minutes=1))
    assert sessions.viewer(session) is None


def test_logout_closes_the_session_and_ids_are_random_and_not_stored() -> None:
    sessions = Sessions(FixedClock(START))
    first, second = sessions.open(identity()), sessions.open(identity())
    assert first != second and len(first) >= 40
    assert first not in sessions._open  # only a digest of the id is kept
    sessions.close(first)
    assert sessions.viewer(first) is None and sessions.viewer(second) is not None


def test_past_the_most_sessions_kept_the_oldest_sign_in_ends() -> None:
    sessions = Sessions(FixedClock(START), most=2)
    first, second, third = (sessions.open(identity()) for _ in range(3))
    assert sessions.viewer(first) is None
    assert sessions.viewer(second) is not None and sessions.viewer(third) is not None


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (b"token=abc.def.ghi", "abc.def.ghi"),
        (b"token=%20abc.def%20", "abc.def"),
        (b"token=\xff\xfe", None),  # not UTF-8
        (b"token=%ff%fe", None),  # percent-encoded bytes that are not UTF-8
        (b"token=a%00b", None),  # a NUL
        (b"token=", None),
        (b"other=1", None),
        (b"token=" + b"a" * 20_000, None),  # over the form's limit
        (b"a=1&b=2&c=3&d=4&e=5&token=x", None),  # more fields than a sign-in form has
    ],
)
def test_the_sign_in_form_gives_a_token_only_when_it_is_one(body: bytes, token: str | None) -> None:
    assert personal_token(body) == token


def test_a_viewer_needs_the_role_company_wide() -> None:
    regional = Viewer("sm-gao", (Grant("sales_manager", "EAST"),))
    with pytest.raises(Forbidden) as refused:
        regional.require(frozenset({"sales_manager"}), "the reports")
    assert refused.value.details["allowed"] == ["sales_manager"]
    Viewer("sm-zhang", (Grant("sales_manager"),)).require(frozenset({"sales_manager"}), "the reports")


async def test_an_unexpected_error_is_a_logged_internal_500_in_the_one_error_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="services.reporting.http"):
        async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
            answer = await client.get("/broken")
    assert answer.status_code == 500
    assert answer.json() == {
        "ok": False,
        "error": {"code": "internal", "message": "an unexpected error, logged", "rule": None, "details": {}},
    }
    record = next(r for r in caplog.records if r.name == "services.reporting.http")
    line = json.loads(JsonFormatter("reporting").format(record))
    assert "RuntimeError: a bug" in line["exception"]  # the traceback is inside the JSON line
