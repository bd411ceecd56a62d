"""Who reads the reports: people signed in with their own identity (DOMAIN.md "Actors and roles", rev 2).

A person signs in once by pasting their personal token (a JWT of ``./salesops token issue``, of the demo
users ``./salesops up`` makes, or of the OpenID Connect provider configured) into the sign-in form. The
token is verified as the bus verifies it (``shared.identity.verify``) and then forgotten: the browser gets
only an opaque random session id, in an HttpOnly, SameSite=strict cookie. The session ends when idle for
``idle`` or ``lasting`` after sign-in (never later than the token's own expiry), or at
``POST /dashboard/logout``. Programs send ``Authorization: Bearer <jwt>`` instead, verified per request.

Sessions live in the memory of the reporting process: a restart (or another instance behind a
load balancer without sticky sessions) asks the person to sign in again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from shared.clock import Clock
from shared.errors import DomainError, Forbidden, Unauthenticated
from shared.identity.scope import Acting
from shared.identity.tokens import Grant, Identity
from shared.identity.verify import AUTHORIZATION, Verifier

COOKIE = "salesops_session"
LOGIN_PATH = "/dashboard/login"
LOGOUT_PATH = "/dashboard/logout"
# A sign-in form is one token: anything much larger is not one (refused before it is parsed).
MAX_FORM_BYTES = 16_384
IDLE = timedelta(minutes=30)
LASTING = timedelta(hours=8)
# Sessions kept at most (a few hundred bytes each); past this the oldest sign-in is ended.
MAX_SESSIONS = 10_000

# (docs/decisions/0006-reporting-readers.md) The reports are company-wide figures: reading them needs one
# of these roles held company-wide. The audit trail shows the events' data, customers' personal data
# included (#23): only auditors and the general manager read it.
AUDITOR = "auditor"
REPORT_READERS = frozenset(
    {
        "general_manager",
        "sales_vp",
        "marketing_director",
        "sales_manager",
        "regional_manager",
        "finance",
        "customer_service_manager",
        AUDITOR,
    }
)
AUDIT_READERS = frozenset({AUDITOR, "general_manager"})


@dataclass(frozen=True)
class Viewer:
    """The signed-in person reading, from a session or from the request's bearer token."""

    user: str
    grants: tuple[Grant, ...]

    def acting(self) -> Acting:
        """As the acting user of a request (``shared.identity.scope``): who reads is recorded where #23
        asks for it."""
        return Acting(self.user, self.grants)

    def company_wide(self, roles: frozenset[str]) -> bool:
        return self.acting().company_wide(roles)

    def require(self, roles: frozenset[str], what: str) -> None:
        """Refuse (403) unless the viewer holds one of ``roles`` company-wide."""
        self.acting().require_company_wide(roles, what)


@dataclass
class Session:
    viewer: Viewer
    ends_at: datetime  # the absolute end: sign-in + LASTING, or the token's expiry if sooner
    last_seen: datetime


class Sessions:
    """Server-side sessions, keyed by a digest of the cookie's id (a memory dump shows no usable id)."""

    def __init__(
        self, clock: Clock, idle: timedelta = IDLE, lasting: timedelta = LASTING, most: int = MAX_SESSIONS
    ) -> None:
        self.clock = clock
        self.idle = idle
        self.lasting = lasting
        self.most = most
        self._open: dict[str, Session] = {}

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def open(self, identity: Identity) -> str:
        now = self.clock.now()
        self._forget_ended(now)
        while len(self._open) >= self.most:
            del self._open[next(iter(self._open))]  # the oldest sign-in
        token_ends = datetime.fromtimestamp(identity.expires_at, now.tzinfo)
        session_id = secrets.token_urlsafe(32)
        viewer = Viewer(identity.user, identity.grants)
        self._open[self._key(session_id)] = Session(viewer, min(now + self.lasting, token_ends), now)
        return session_id

    def viewer(self, session_id: str) -> Viewer | None:
        key = self._key(session_id)
        session = self._open.get(key)
        if session is None:
            return None
        now = self.clock.now()
        if now >= session.ends_at or now - session.last_seen >= self.idle:
            del self._open[key]
            return None
        session.last_seen = now
        return session.viewer

    def close(self, session_id: str) -> None:
        self._open.pop(self._key(session_id), None)

    def _forget_ended(self, now: datetime) -> None:
        ended = [k for k, s in self._open.items() if now >= s.ends_at or now - s.last_seen >= self.idle]
        for key in ended:
            del self._open[key]


# The sign-in page: (request, problem — a word of the dashboard's or a refusal's message, status).
LoginPage = Callable[[Request, str, int], Response]


class SignIn:
    """The ``viewer`` dependency, and the sign-in / sign-out routes (``router``)."""

    def __init__(self, verifier: Verifier, sessions: Sessions, login_page: LoginPage) -> None:
        self.verifier = verifier
        self.sessions = sessions
        self.login_page = login_page  # the dashboard's page (its language, its layout)
        self.router = APIRouter(include_in_schema=False)
        self.router.add_api_route(LOGIN_PATH, self.login_form, methods=["GET"])
        self.router.add_api_route(LOGIN_PATH, self.login, methods=["POST"])
        self.router.add_api_route(LOGOUT_PATH, self.logout, methods=["POST"])

    async def viewer(self, request: Request) -> Viewer | None:
        """Who is reading: the bearer token's user (verified), else the session's; None if neither.
        A bearer token that is sent but refused raises ``Unauthenticated`` (401) rather than falling back."""
        if AUTHORIZATION.lower() in request.headers:
            identity = await self.verifier.identify({AUTHORIZATION: request.headers[AUTHORIZATION]})
            return Viewer(identity.user, identity.grants)
        session_id = request.cookies.get(COOKIE)
        return self.sessions.viewer(session_id) if session_id else None

    async def login_form(self, request: Request) -> Response:
        return self.login_page(request, "", 200)

    async def login(self, request: Request) -> Response:
        body = await request.body()
        token = personal_token(body)
        if token is None:
            return self.login_page(request, "token_one_line", 400)
        try:
            identity = await self.verifier.identify({AUTHORIZATION: f"Bearer {token}"})
            Viewer(identity.user, identity.grants).require(REPORT_READERS, "the reports")
        except DomainError as refused:
            status = 403 if isinstance(refused, Forbidden) else 401
            # a word of the dashboard's for a token that is not good, the reason for a reader it refuses
            problem = refused.message if isinstance(refused, Forbidden) else "wrong_token"
            return self.login_page(request, problem, status)
        response = RedirectResponse("/dashboard", 303)
        response.set_cookie(
            COOKIE,
            self.sessions.open(identity),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        session_id = request.cookies.get(COOKIE)
        if session_id:
            self.sessions.close(session_id)
        response = RedirectResponse(LOGIN_PATH, 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response


async def viewer(request: Request) -> Viewer | None:
    """The FastAPI dependency: who is reading this request (None: nobody signed in). The app's ``SignIn``
    is ``app.state.sign_in`` (``services.reporting.http.create_app``)."""
    sign_in: SignIn = request.app.state.sign_in
    return await sign_in.viewer(request)


async def reader(who: Annotated[Viewer | None, Depends(viewer)]) -> Viewer:
    """The dependency of every report: a signed-in reader (401 if nobody, 403 without a reading role)."""
    if who is None:
        raise Unauthenticated(
            f"sign in at {LOGIN_PATH}, or send 'Authorization: Bearer <token>'",
            details={"header": AUTHORIZATION, "cookie": COOKIE},
        )
    who.require(REPORT_READERS, "the reports")
    return who


async def auditor(who: Annotated[Viewer, Depends(reader)]) -> Viewer:
    """The dependency of the audit trail (R10), which shows customers' personal data."""
    who.require(AUDIT_READERS, "the audit trail")
    return who


def personal_token(body: bytes) -> str | None:
    """The ``token`` field of a urlencoded sign-in form, or None when the form is not one: too large,
    not UTF-8 (raw or percent-encoded), or without a one-line token. Parsed here: FastAPI's ``Form()``
    needs python-multipart, and its errors would not be ours."""
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), errors="strict", max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return None
    token = fields.get("token", [""])[0].strip()
    if not token or not token.isprintable() or not token.isascii():
        return None
    return token
