"""One error body for everything the reporting HTTP API refuses: the bus's ``Reply`` failure
(``{"ok": false, "error": {"code", "message", "rule", "details"}}``, ``shared.contracts``), with the status
of its code. FastAPI's own bodies (``{"detail": ...}`` for a bad parameter, an unknown path, a wrong
method) are replaced, so a client parses one shape; an unexpected error is a logged ``internal`` 500 in
the same shape, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from shared.contracts import ErrorBody, ErrorCode, Reply
from shared.errors import DomainError

log = logging.getLogger("services.reporting.http")

STATUS_OF_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID: 422,
    ErrorCode.RULE_VIOLATION: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
CODE_OF_STATUS = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.NOT_FOUND, 413: ErrorCode.TOO_LARGE}

# What each status means on this API (the OpenAPI document lists them with the error body).
STATUS_MEANING = {
    400: "a report's rule refused the request (error.rule names it)",
    401: "no valid credential: sign in, or send 'Authorization: Bearer <token>' (unauthenticated)",
    403: "the signed-in user's roles may not read this (forbidden; error.details.allowed lists who may)",
    404: "no such thing (not_found), e.g. a period never signed off",
    422: "a parameter is missing, malformed, over its limit or unknown (invalid; details.errors names each)",
}


class Refusal(BaseModel):
    """The one error body of every refusal (``Reply`` with ``ok: false``)."""

    ok: Literal[False]
    error: ErrorBody


def error_response(error: ErrorBody, status: int | None = None) -> Response:
    body = orjson.dumps(Reply.failure(error).to_json())
    response = Response(body, status_code=status or STATUS_OF_CODE[error.code], media_type="application/json")
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="salesops reporting"'
    return response


def refused(error: DomainError) -> Response:
    return error_response(ErrorBody.of(error))


def invalid(problems: Sequence[dict[str, str]]) -> Response:
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return error_response(
        ErrorBody(code=ErrorCode.INVALID, message=f"invalid request: {summary}", details={"errors": problems})
    )


def field_problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    """pydantic's errors as the contract's ``FieldProblem``s: ``query.period``, ``path.aggregate_id``."""
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())) or "(request)",
            "message": str(error.get("msg", "invalid")),
            "type": str(error.get("type", "value_error")),
        }
        for error in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return invalid(field_problems(exc.errors()))

    @app.exception_handler(DomainError)
    async def on_refused(request: Request, exc: DomainError) -> Response:
        return refused(exc)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        code = CODE_OF_STATUS.get(exc.status_code, ErrorCode.INVALID)
        message = "no such path or method" if exc.status_code in (404, 405) else str(exc.detail)
        response = error_response(ErrorBody(code=code, message=message), exc.status_code)
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(ErrorBody(code=ErrorCode.INTERNAL, message="an unexpected error, logged"))


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these refusals, each with the one error body."""
    return {status: {"model": Refusal, "description": STATUS_MEANING[status]} for status in statuses}
