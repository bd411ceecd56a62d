"""Bus plumbing: the broker, command and query routes with the reply contract, and the documented events.

A route validates the body against its pydantic model (an invalid body gets ``code: invalid`` naming
each field), runs the handler, and answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
...}``. A refused command stores nothing, and no exception stops the service: an unexpected one is
logged and answered ``code: internal``. Unknown commands under the service's subjects are answered too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import eventsourcing.persistence as es_persistence
import nats
import orjson
import psycopg
from faststream import BaseMiddleware, StreamMessage
from faststream.middlewares import ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.security import SASLPlaintext
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from shared.contracts import ErrorBody, Query, Reply
from shared.envelope import envelope_model
from shared.errors import DomainError, Unavailable
from shared.settings import Settings
from shared.subjects import command_subject, event_subject, query_subject

log = logging.getLogger(__name__)

# Requests one route handles at once (FastStream's default is one at a time, which serialised every
# command of a service); commands on the same aggregate still serialise through optimistic concurrency.
ROUTE_CONCURRENCY = 64

Handler = Callable[[Any], Awaitable[dict[str, Any]]]

# Largest command or query body a service reads. NATS itself carries up to 1 MiB; no command of the contract
# comes near this, so a larger body is refused before it is parsed (``code: too_large``), storing nothing.
MAX_BODY_BYTES = 64 * 1024


def invalid_reply(error: ValidationError) -> dict[str, Any]:
    problems = [
        {
            "field": ".".join(str(part) for part in problem["loc"][1:]) or "(body)",
            "message": problem["msg"],
            "type": problem["type"],
        }
        for problem in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return Reply.failure(
        ErrorBody(code="invalid", message=f"invalid body: {summary}", details={"errors": problems})
    ).to_json()


def error_reply(code: str, message: str, **details: Any) -> dict[str, Any]:
    return Reply.failure(ErrorBody(code=code, message=message, details=details)).to_json()


def nats_options(settings: Settings) -> dict[str, Any]:
    servers = [url.strip() for url in settings.nats_url.split(",") if url.strip()]
    options: dict[str, Any] = {"servers": servers, "max_reconnect_attempts": -1}
    if settings.nats_user:
        options |= {"user": settings.nats_user, "password": settings.nats_password}
    return options


async def connect_nats(settings: Settings, name: str) -> NATS:
    return await nats.connect(name=name, **nats_options(settings))


class BodyLimit(BaseMiddleware):
    """Refuse an oversized body with a structured error instead of parsing it."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        size = len(msg.body or b"")
        if size > MAX_BODY_BYTES:
            return error_reply(
                "too_large",
                f"body of {size} bytes exceeds the limit of {MAX_BODY_BYTES} bytes; nothing was written",
                size=size,
                limit=MAX_BODY_BYTES,
            )
        return await call_next(msg)


def make_broker(settings: Settings, name: str) -> NatsBroker:
    exceptions = ExceptionMiddleware()

    @exceptions.add_handler(ValidationError, publish=True)
    async def on_invalid(error: ValidationError) -> dict[str, Any]:
        return invalid_reply(error)

    options = nats_options(settings)
    if "user" in options:
        # NatsBroker takes credentials only as a security object (a plain ``user=`` is a TypeError).
        user, password = options.pop("user"), options.pop("password") or ""
        options["security"] = SASLPlaintext(username=user, password=password)
    # Per-message logging costs about a quarter of the throughput: messages log at DEBUG only.
    return NatsBroker(
        options.pop("servers"),
        middlewares=[BodyLimit, exceptions],
        log_level=logging.DEBUG,
        name=name,
        **options,
    )


class ServiceBus:
    """The routes of one service on its broker; each route once, described for the AsyncAPI document."""

    def __init__(self, broker: NatsBroker, settings: Settings, service: str) -> None:
        self.broker = broker
        self.settings = settings
        self.service = service
        # Commands are refused at once while the store is known to be down (see StoreGate).
        self.gate = StoreGate(settings.postgres_dsn)
        self.commands: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {}
        self.queries: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {}
        self.query("health", Query, self._health)

    async def _health(self, _: Query) -> dict[str, Any]:
        """Readiness: answered once the service's routes are subscribed."""
        return {"service": self.service, "status": "up"}

    def command(
        self, name: str, model: type[BaseModel], handler: Handler, result: type[BaseModel] | None = None
    ) -> None:
        self.commands[name] = (model, result)
        self._route(
            command_subject(self.settings.namespace, self.service, name), name, model, self._gated(handler)
        )

    def query(
        self, name: str, model: type[BaseModel], handler: Handler, result: type[BaseModel] | None = None
    ) -> None:
        self.queries[name] = (model, result)
        self._route(query_subject(self.settings.namespace, self.service, name), name, model, handler)

    def _gated(self, handler: Handler) -> Handler:
        async def gated(body: Any) -> dict[str, Any]:
            if not self.gate.available:
                self.gate.refused += 1
                raise Unavailable("the store is unavailable; nothing was written")
            return await handler(body)

        gated.__name__ = getattr(handler, "__name__", "command")
        return gated

    def _route(self, subject: str, name: str, model: type[BaseModel], handler: Handler) -> None:
        async def route(body: Any) -> dict[str, Any]:
            return await answer(handler, body)

        route.__annotations__["body"] = model
        route.__name__ = name
        route.__doc__ = (model.__doc__ or name).strip()
        self.broker.subscriber(
            subject, queue=f"{self.service}-{name}", title=subject, max_workers=ROUTE_CONCURRENCY
        )(route)

    def document_events(self, event_classes: Iterable[type]) -> None:
        """Declare every event subject with its envelope schema (the relay is what publishes them)."""
        for event_class in event_classes:
            subject = event_subject(self.settings.namespace, self.service, event_class.__name__)
            self.broker.publisher(
                subject,
                title=subject,
                schema=envelope_model(event_class),
                description=(event_class.__doc__ or event_class.__name__).strip(),
            )

    async def answer_unknown(self, nc: NATS) -> None:
        """Answer requests to command/query subjects this service does not have."""

        async def on_request(msg: Msg) -> None:
            kind, name = msg.subject.split(".")[-2:]
            known = self.commands if kind == "cmd" else self.queries
            if name in known or not msg.reply:
                return
            reply = error_reply(
                "unknown_command", f"{self.service} has no {kind} '{name}'", known=sorted(known)
            )
            await msg.respond(orjson.dumps(reply))

        ns, service = self.settings.namespace, self.service
        for kind in ("cmd", "query"):
            await nc.subscribe(f"{ns}.{service}.{kind}.*", queue=f"{service}-unknown", cb=on_request)


class StoreGate:
    """Knows at once when the service's PostgreSQL goes away, so commands fail fast instead of hanging.

    eventsourcing retries a lost connection (10 attempts, each waiting up to the pool's connect timeout):
    a command that arrives while the database is down would wait up to a minute and then maybe succeed.
    The gate keeps one idle connection open; the server closing it (shutdown, crash, network) marks the
    store down, and a reconnect every half second marks it up again. While down, commands are answered
    ``unavailable`` before anything runs, so nothing can be written. Commands already running when the
    outage begins ride eventsourcing's retries: they either complete or are answered ``unavailable``.
    """

    RECONNECT_SECONDS = 0.5

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.available = True
        self.refused = 0
        self.outages = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn, timeout=2)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._down()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.RECONNECT_SECONDS)
                continue
            listener = self._on_lost(lost)
            conn.add_termination_listener(listener)
            if not self.available:
                log.warning("store reachable again: accepting commands")
            self.available = True
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if not lost.is_set():
                conn.remove_termination_listener(listener)  # closing it ourselves is no outage
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)

    def _on_lost(self, lost: asyncio.Event) -> Callable[[Any], None]:
        def on_lost(_: Any) -> None:
            self._down()
            lost.set()

        return on_lost

    def _down(self) -> None:
        if self.available:
            self.outages += 1
            log.warning("store unreachable: refusing commands as unavailable until it is back")
        self.available = False


async def answer(handler: Handler, body: Any) -> dict[str, Any]:
    """Run a handler and turn its outcome, whatever it is, into the reply contract."""
    try:
        return Reply.success(await handler(body)).to_json()
    except DomainError as error:
        return Reply.failure(ErrorBody.of(error)).to_json()
    except (
        psycopg.OperationalError,
        es_persistence.OperationalError,
        es_persistence.InterfaceError,
    ) as error:
        log.warning("database unavailable: %s", error)
        return Reply.failure(
            ErrorBody.of(Unavailable("the store is unavailable; nothing was written"))
        ).to_json()
    except Exception:
        log.exception("unexpected error in handler %s", getattr(handler, "__name__", handler))
        return error_reply("internal", "internal error; nothing was written")


def in_thread(method: Callable[[Any], dict[str, Any]]) -> Handler:
    """The eventsourcing application is synchronous: run its commands in a worker thread."""

    async def call(body: Any) -> dict[str, Any]:
        return await asyncio.to_thread(method, body)

    call.__name__ = getattr(method, "__name__", "command")
    return call
