"""What every HTTP request of reporting goes through: its correlation id, ``HEAD`` answered as ``GET``,
a JSON access-log line, and the refusal of parameters a route does not take."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability import correlated

CORRELATION_HEADER = "x-correlation-id"
CORRELATION_MAX = 100  # as the bus's correlation ids (shared.contracts.CorrelationId)
access_log = logging.getLogger("services.reporting.http.access")


def given_correlation(scope: Scope) -> str | None:
    """The request's ``X-Correlation-Id`` if it is one: printable ASCII, 1 to 100 characters."""
    for name, value in scope.get("headers", ()):
        if name == CORRELATION_HEADER.encode():
            text = value.decode("latin-1")
            if 0 < len(text) <= CORRELATION_MAX and text.isascii() and text.isprintable():
                return text
    return None


class CorrelatedAccessLog:
    """Pure ASGI (not ``BaseHTTPMiddleware``, which runs the route in another task and so loses the
    correlation id's context): the id given, or a new one, is the context of the request's log lines and
    comes back in ``X-Correlation-Id``. ``HEAD`` runs the ``GET`` route and sends its headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation = given_correlation(scope) or uuid.uuid4().hex
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] != CORRELATION_HEADER.encode()]
                headers.append((CORRELATION_HEADER.encode(), correlation.encode()))
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {**message, "body": b""}
            await send(message)

        with correlated(correlation):
            try:
                await self.app(scope, receive, sending)
            finally:
                access_log.info(
                    "%s %s %d %.1f ms",
                    "HEAD" if head else scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={"http": {"method": scope["method"], "path": scope["path"], "status": status}},
                )


def refuse_unknown_parameters(request: Request) -> None:
    """A query parameter the route does not take is refused (422, ``extra_forbidden``): a misspelt
    ``as-of`` must not silently give today's report."""
    route: Any = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": "this route takes no such parameter",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )


def query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route takes: its own and its dependencies'."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_names(dependency)
    return names
