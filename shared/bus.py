"""Bus plumbing: command and query routes with the reply contract, and the documented events.

A route refuses an oversized body (``code: too_large``), then a request without a valid credential
(``code: unauthenticated``, ``shared/identity``), validates the body against its pydantic model
(an invalid body gets ``code: invalid`` naming each field), runs the handler, and answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": ...}``. A body whose ``actor`` is not the
proven user in a role they hold is refused ``forbidden``; the handler runs with the proven user at hand
(``shared.identity.scope.acting``: services check the scope of its roles). A refused command stores nothing,
and no exception stops the service: an unexpected one is logged and answered ``code: internal``.
Unknown commands under the service's subjects are answered too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import asyncpg
import eventsourcing.persistence as es_persistence
import nats
import nats.errors
import orjson
import psycopg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.contracts import CorrelationId, ErrorBody, ErrorCode, Query, Reply
from shared.errors import DomainError, Unavailable
from shared.identity.scope import Acting, acting, acting_as
from shared.identity.tokens import Grant, Identity
from shared.identity.verify import Verifier, refuse_unproven_actor
from shared.observability import correlated
from shared.settings import Settings
from shared.subjects import command_subject, query_subject
from shared.waiting import first_of, pause

log = logging.getLogger(__name__)

# Requests one route answers at once (one at a time serialised every command of a service); commands on
# the same aggregate still serialise through optimistic concurrency.
ROUTE_CONCURRENCY = 64

Handler = Callable[[Any], Awaitable[dict[str, Any]]]

# Largest command or query body a service reads. NATS itself carries up to 1 MiB; no command of the contract
# comes near this, so a larger body is refused before it is parsed (``code: too_large``), storing nothing.
MAX_BODY_BYTES = 64 * 1024

# The NATS header a request may carry its correlation id in (as the AsyncAPI documents declare), instead of
# the body's ``correlation_id``; the body's wins when both are sent.
CORRELATION_HEADER = "correlation_id"
_correlation_id = TypeAdapter(CorrelationId)


def invalid_reply(error: ValidationError, whole: str = "(body)") -> dict[str, Any]:
    """``code: invalid`` naming each field; ``whole`` names what was validated when the problem is not
    in one of its fields."""
    problems = [
        {
            "field": ".".join(str(part) for part in problem["loc"]) or whole,
            "message": problem["msg"],
            "type": problem["type"],
        }
        for problem in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return Reply.failure(
        ErrorBody(code=ErrorCode.INVALID, message=f"invalid body: {summary}", details={"errors": problems})
    ).to_json()


def error_reply(code: str, message: str, **details: Any) -> dict[str, Any]:
    return Reply.failure(ErrorBody(code=ErrorCode(code), message=message, details=details)).to_json()


def nats_options(settings: Settings) -> dict[str, Any]:
    servers = [url.strip() for url in settings.nats_url.split(",") if url.strip()]
    options: dict[str, Any] = {"servers": servers, "max_reconnect_attempts": -1}
    if settings.nats_user:
        options |= {"user": settings.nats_user, "password": settings.nats_password}
    return options


async def connect_nats(settings: Settings, name: str) -> NATS:
    return await nats.connect(name=name, **nats_options(settings))


Observer = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Route:
    """One command or query: its subject, queue group, request model, reply's result model, handler."""

    kind: str  # "cmd" or "query"
    name: str
    subject: str
    queue: str
    model: type[BaseModel]
    result: type[BaseModel] | None
    handler: Handler
    public: bool = False  # answered without a credential (the health query: readiness probes)


class ServiceBus:
    """The command and query routes of one service, served on a NATS connection, and its documented events.

    Requests are served by nats-py directly, not through FastStream's per-message machinery: measured on
    this machine, a FastStream request/reply route cost ~230 µs of CPU per request against ~21 µs for a
    nats-py subscription doing the same validation and reply, and the routes carry every command.
    FastStream describes the same routes in the AsyncAPI document (``shared.contract_docs``).
    """

    def __init__(self, settings: Settings, service: str, observe: Observer | None = None) -> None:
        self.settings = settings
        self.service = service
        self.observe = observe  # told of every reply: (kind, name, reply)
        # Commands are refused at once while the store is known to be down (see StoreGate).
        self.gate = StoreGate(settings.postgres_dsn)
        self.verifier = Verifier.from_settings(settings)
        # The benchmark's measure of what verification costs (refused where deployed: ``Settings``).
        self.unverified = settings.identity_unverified_for_benchmark
        self.routes: dict[str, Route] = {}
        self.events: list[type] = []
        self.roles: dict[str, list[str]] = {}  # command name -> the roles that may send it (published)
        self._subscriptions: list[Subscription] = []
        self._answering: set[asyncio.Task[None]] = set()
        health = query_subject(settings.namespace, service, "health")
        self._add("query", "health", health, Query, None, self._health, public=True)

    async def _health(self, _: Query) -> dict[str, Any]:
        """Readiness: answered once the service's routes are subscribed."""
        return {"service": self.service, "status": "up"}

    def command(
        self, name: str, model: type[BaseModel], handler: Handler, result: type[BaseModel] | None = None
    ) -> None:
        subject = command_subject(self.settings.namespace, self.service, name)
        self._add("cmd", name, subject, model, result, self._gated(handler))

    def query(
        self, name: str, model: type[BaseModel], handler: Handler, result: type[BaseModel] | None = None
    ) -> None:
        subject = query_subject(self.settings.namespace, self.service, name)
        self._add("query", name, subject, model, result, handler)

    def _add(
        self,
        kind: str,
        name: str,
        subject: str,
        model: type[BaseModel],
        result: type[BaseModel] | None,
        handler: Handler,
        public: bool = False,
    ) -> None:
        if subject in self.routes:
            raise ValueError(f"{subject} is routed twice")
        queue = f"{self.service}-{name}"
        self.routes[subject] = Route(kind, name, subject, queue, model, result, handler, public)

    def _gated(self, handler: Handler) -> Handler:
        async def gated(body: Any) -> dict[str, Any]:
            if not self.gate.available:
                self.gate.refused += 1
                raise Unavailable("the store is unavailable; nothing was written")
            return await handler(body)

        gated.__name__ = getattr(handler, "__name__", "command")
        return gated

    def document_roles(self, table: Mapping[str, Iterable[StrEnum | str]]) -> None:
        """Publish who may send each command (the rules that check it are the service's own)."""
        self.roles.update({name: sorted(str(role) for role in roles) for name, roles in table.items()})

    def read_only_by(self, names: Iterable[str], roles: frozenset[str], what: str) -> None:
        """Answer the queries ``names`` only to a user holding one of ``roles`` company-wide (requests of
        the service's own process, with no acting user, are answered), and publish the roles (x-roles)."""
        names = list(names)
        for name in names:
            subject = query_subject(self.settings.namespace, self.service, name)
            route = self.routes[subject]
            self.routes[subject] = replace(route, handler=_read_only_by(route.handler, roles, what))
        self.document_roles(dict.fromkeys(names, roles))

    def document_events(self, event_classes: Iterable[type]) -> None:
        """Declare the service's events for the AsyncAPI document (the relay is what publishes them)."""
        self.events.extend(event_classes)

    async def serve(self, nc: NATS, unknown: NATS) -> None:
        """Subscribe every route on ``nc`` (a queue group each, so instances share them) and, on another
        connection, answer the names no route has: NATS lets a connection that got a request twice (by
        a route and by the wildcard) answer it only for the last delivery, so they must not share one."""
        for route in self.routes.values():
            self._subscriptions.append(
                await nc.subscribe(route.subject, queue=route.queue, cb=self._receiver(route))
            )
        for kind in ("cmd", "query"):
            subject = f"{self.settings.namespace}.{self.service}.{kind}.*"
            self._subscriptions.append(
                await unknown.subscribe(subject, queue=f"{self.service}-unknown", cb=self._answer_unknown)
            )
        await nc.flush()
        await unknown.flush()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop taking requests, then let those being answered finish (their replies are sent)."""
        for subscription in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
        self._subscriptions.clear()
        if self._answering:
            await asyncio.wait(list(self._answering), timeout=timeout)

    def _receiver(self, route: Route) -> Callable[[Msg], Awaitable[None]]:
        # nats-py calls this once per message, in order, awaiting it: hand each request to a task of its
        # own, at most ROUTE_CONCURRENCY per route (beyond that, requests wait in the subscription's queue).
        slots = asyncio.Semaphore(ROUTE_CONCURRENCY)

        def finished(task: asyncio.Task[None]) -> None:
            self._answering.discard(task)
            slots.release()

        async def receive(msg: Msg) -> None:
            await slots.acquire()
            task = asyncio.create_task(self._respond(route, msg))
            self._answering.add(task)
            task.add_done_callback(finished)

        return receive

    async def _respond(self, route: Route, msg: Msg) -> None:
        reply = await self._reply(route, msg.data, msg.headers)
        if self.observe is not None:
            self.observe(route.kind, route.name, reply)
        if msg.reply:
            with contextlib.suppress(nats.errors.Error):  # the connection closing: the caller times out
                await msg.respond(orjson.dumps(reply))

    async def _reply(self, route: Route, data: bytes, headers: dict[str, str] | None) -> dict[str, Any]:
        if len(data) > MAX_BODY_BYTES:  # refused before it is parsed
            return error_reply(
                "too_large",
                f"body of {len(data)} bytes exceeds the limit of {MAX_BODY_BYTES} bytes; nothing was written",
                size=len(data),
                limit=MAX_BODY_BYTES,
            )
        identity, who = None, None
        try:
            if not route.public and not self.unverified:
                identity = await self.verifier.identify(headers)
            body = route.model.model_validate_json(data)
            actor = getattr(body, "actor", None)
            if self.unverified and actor is not None:
                identity = claimed(actor.id, actor.role)
            if identity is not None:
                if actor is not None:
                    refuse_unproven_actor(identity, actor.id, actor.role)
                who = Acting.of(identity, actor.role if actor is not None else None)
        except ValidationError as error:
            return invalid_reply(error)
        except DomainError as error:  # unauthenticated, or the body's actor is not the proven one
            return Reply.failure(ErrorBody.of(error)).to_json()
        correlation = headers.get(CORRELATION_HEADER) if headers else None
        if correlation is not None:
            try:
                correlation = _correlation_id.validate_python(correlation)
            except ValidationError as error:
                return invalid_reply(error, whole=f"header {CORRELATION_HEADER}")
            if getattr(body, "correlation_id", "") is None:  # a command that sent none in its body
                body = body.model_copy(update={"correlation_id": correlation})
        with correlated(getattr(body, "correlation_id", None) or correlation), acting_as(who):
            reply = await answer(route.handler, body)
            if log.isEnabledFor(logging.DEBUG):  # the first link of command → event → projection
                outcome = "ok" if reply["ok"] else reply["error"]["code"]
                log.debug("%s %s answered: %s", route.kind, route.name, outcome)
            return reply

    async def _answer_unknown(self, msg: Msg) -> None:
        if msg.subject in self.routes or not msg.reply:
            return
        kind, name = msg.subject.split(".")[-2:]
        known = sorted(r.name for r in self.routes.values() if r.kind == kind)
        reply = error_reply("unknown_command", f"{self.service} has no {kind} '{name}'", known=known)
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(orjson.dumps(reply))


def claimed(user: str, role: str) -> Identity:
    """The identity a body's actor claims, taken unverified: the benchmark's requests without verification
    then take the rest of the path (scopes, the acting user) as verified ones do."""
    return Identity(user, (Grant(role),), math.inf)


def _read_only_by(handler: Handler, roles: frozenset[str], what: str) -> Handler:
    async def read(body: Any) -> dict[str, Any]:
        who = acting()
        if who is not None:
            who.require_company_wide(roles, what)
        return await handler(body)

    read.__name__ = getattr(handler, "__name__", "query")
    return read


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
                await pause(stop, self.RECONNECT_SECONDS)
                continue
            listener = self._on_lost(lost)
            conn.add_termination_listener(listener)
            if not self.available:
                log.warning("store reachable again: accepting commands")
            self.available = True
            await first_of(stop, lost)
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
        return Reply.success_json(await handler(body))
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
    """The eventsourcing application is synchronous: run its queries in a worker thread (its commands run
    in its command worker, ``shared/worker.py``)."""

    async def call(body: Any) -> dict[str, Any]:
        return await asyncio.to_thread(method, body)

    call.__name__ = getattr(method, "__name__", "command")
    return call
