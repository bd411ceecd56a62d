"""Operability of a service process: JSON logs with correlation ids, health/readiness, Prometheus metrics.

Every process (the three write services and reporting) serves, on ``SALESOPS_METRICS_PORT`` (unset: off,
so several processes can share one machine without fighting over a port):

- ``GET /healthz``: liveness, 200 while the event loop answers;
- ``GET /readyz``: readiness, 200 only when every registered check passes (NATS connected, routes
  subscribed, database reachable), otherwise 503 with the failing checks;
- ``GET /metrics``: Prometheus text format. Counters of commands and errors are kept as they happen;
  the gauges (outbox backlog, consumer lag, dead-letter depth, projection position, periods not signed
  off) are read from
  PostgreSQL and JetStream at scrape time, so every instance of a scaled-out service reports the same,
  true numbers instead of its own partial view.

Logs: one JSON object per line (``ts``, ``level``, ``service``, ``logger``, ``message`` and, where known,
``correlation_id``), set by ``configure_logging``. The correlation id of the command being handled is
kept in a context variable, so log lines written while handling it, in the worker thread too, carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shared.context import holding
from shared.settings import SalesopsSettings
from shared.worker import CommandWorker

log = logging.getLogger(__name__)

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

Check = Callable[[], Awaitable[bool]]
Probe = Callable[["ServiceMetrics"], Awaitable[None]]
M = TypeVar("M", Counter, Gauge, Histogram)

PROBE_TIMEOUT = 3.0


# ---------------------------------------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``correlation_id`` from the record (``extra=``) or the current command."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        known = getattr(record, "correlation_id", None) or correlation_id.get()
        if known:
            entry["correlation_id"] = known
        for key in ("correlation_ids", "event_id", "durable", "http"):
            if (value := getattr(record, key, None)) is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, service: str, log_format: str | None = None) -> None:
    """Root logging for a service process: JSON lines on stderr unless ``SALESOPS_LOG_FORMAT=text``."""
    chosen = log_format or SalesopsSettings().log_format
    handler = logging.StreamHandler()
    if chosen == "text":
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook = _log_crash  # a crash's traceback is a log line too, not free text on stderr


def _log_crash(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    details = (kind, error, trace)
    logging.getLogger("crash").critical("unhandled %s: %s", kind.__name__, error, exc_info=details)


def correlated(value: str | None) -> contextlib.AbstractContextManager[None]:
    return holding(correlation_id, value)


# ---------------------------------------------------------------------------------------------- metrics


class ServiceMetrics:
    """The metrics of one process, in a registry of its own (tests run several services in one process)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.probes: list[Probe] = []
        self.checks: dict[str, Check] = {}
        self.commands = self._metric(
            Counter,
            "salesops_commands",
            "Commands and queries answered, by outcome (ok or the error code)",
            "kind",
            "name",
            "outcome",
        )
        self.errors = self._metric(
            Counter,
            "salesops_errors",
            "Refused or failed commands and queries, by error code and rule",
            "kind",
            "name",
            "code",
            "rule",
        )
        self.outbox_backlog = self._metric(
            Gauge, "salesops_outbox_backlog", "Stored events not yet published by the outbox relay"
        )
        self.consumer_lag = self._metric(
            Gauge,
            "salesops_consumer_lag",
            "Messages of a durable consumer not yet delivered or not yet acknowledged",
            "durable",
            "stream",
        )
        self.dead_letters = self._metric(
            Gauge,
            "salesops_dead_letters",
            "Messages parked on the dead-letter stream by this service's consumers",
            "durable",
        )
        self.projection_position = self._metric(
            Gauge,
            "salesops_projection_position",
            "Highest event position of a source service applied to the projections",
            "source",
        )
        self.periods_unsigned = self._metric(
            Gauge,
            "salesops_report_periods_unsigned",
            "Report periods closed whose sign-off day (the 29th, R1) has passed without a sign-off",
        )
        self.command_batch = self._metric(
            Histogram,
            "salesops_command_batch_size",
            "Commands decided in turn and saved together by the command worker, per batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 100),
        )
        self.commands_waiting = self._metric(
            Gauge,
            "salesops_commands_waiting",
            "Commands received and waiting for the command worker (it is busy when this stays up)",
        )
        self.probe_failures = self._metric(
            Counter,
            "salesops_metrics_probe_failures",
            "Scrape-time probes that failed (the gauges then keep their last value)",
            "probe",
        )

    def _metric(self, kind: type[M], name: str, documentation: str, *labels: str, **options: Any) -> M:
        """A metric of this process's registry, labelled by service first."""
        return kind(name, documentation, ["service", *labels], registry=self.registry, **options)

    def watch_commands(self, worker: CommandWorker) -> None:
        """The command worker's batch sizes as they happen, and its queue at each scrape."""
        batch = self.command_batch.labels(self.service)
        worker.on_batch = batch.observe

        async def commands_waiting(metrics: ServiceMetrics) -> None:
            metrics.commands_waiting.labels(metrics.service).set(worker.waiting)

        self.probes.append(commands_waiting)

    def count_reply(self, kind: str, name: str, reply: Any) -> str:
        """Count one reply; returns its outcome (``ok`` or the error code)."""
        if not isinstance(reply, dict):
            return "no reply"
        if reply.get("ok"):
            self.commands.labels(self.service, kind, name, "ok").inc()
            return "ok"
        error = reply.get("error") or {}
        code = str(error.get("code") or "unknown")
        self.commands.labels(self.service, kind, name, code).inc()
        self.errors.labels(self.service, kind, name, code, str(error.get("rule") or "")).inc()
        return code

    async def refresh(self) -> None:
        """Run the scrape-time probes; one failing probe leaves the others' values fresh."""
        for probe in self.probes:
            try:
                await asyncio.wait_for(probe(self), PROBE_TIMEOUT)
            except Exception as error:
                self.probe_failures.labels(self.service, getattr(probe, "__name__", "probe")).inc()
                log.debug("metrics probe %s failed: %r", probe, error)

    async def readiness(self) -> dict[str, bool]:
        results: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                results[name] = bool(await asyncio.wait_for(check(), PROBE_TIMEOUT))
            except Exception:
                results[name] = False
        return results

    def observe(self, kind: str, name: str, reply: dict[str, Any]) -> None:
        """The bus routes' observer: counts each reply, the routes' own refusals included."""
        self.count_reply("command" if kind == "cmd" else kind, name, reply)


# ---------------------------------------------------------------------------------------- HTTP endpoints


class Scrape:
    """prometheus-client's ASGI app, after the scrape-time probes have refreshed the gauges."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        self.exposition = make_asgi_app(metrics.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.metrics.refresh()
        await self.exposition(scope, receive, send)


class ObservabilityServer:
    """The three endpoints as a Starlette app on uvicorn, in the service's event loop."""

    def __init__(self, metrics: ServiceMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.started = time.monotonic()
        app = Starlette(
            routes=[
                Route("/healthz", self._alive),
                Route("/livez", self._alive),
                Route("/readyz", self._ready),
                Route("/metrics", Scrape(metrics), methods=["GET"]),
            ]
        )
        # log_config=None: uvicorn's own lines go through the service's JSON logging; no access log.
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        self.task = asyncio.create_task(self.server.serve(), name=f"{self.metrics.service}-observability")
        while not self.server.started:
            if self.task.done():  # bind failed: uvicorn logs why and exits
                raise OSError(f"observability endpoints not started on {self.server.config.port}")
            await asyncio.sleep(0.01)
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)

    async def _alive(self, request: Request) -> JSONResponse:
        uptime = round(time.monotonic() - self.started, 1)
        return JSONResponse({"service": self.metrics.service, "status": "alive", "uptime_s": uptime})

    async def _ready(self, request: Request) -> JSONResponse:
        checks = await self.metrics.readiness()
        ready = all(checks.values())
        body = {"service": self.metrics.service, "ready": ready, "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)


async def serve_observability(metrics: ServiceMetrics, stop: asyncio.Event) -> int | None:
    """Serve the endpoints on ``SALESOPS_METRICS_PORT`` until ``stop``; the bound port, or None when off."""
    options = SalesopsSettings()
    if options.metrics_port is None:
        return None
    server = ObservabilityServer(metrics, options.metrics_host, options.metrics_port)
    try:
        port = await server.start()
    except OSError as error:
        # A taken port must not take the service down with it: it still serves the bus.
        log.error("observability endpoints not started on port %s: %s", options.metrics_port, error)
        return None

    async def close_on_stop() -> None:
        await stop.wait()
        await server.close()

    task = asyncio.create_task(close_on_stop(), name=f"{metrics.service}-observability")
    _keep.add(task)
    task.add_done_callback(_keep.discard)
    log.info("health, readiness and metrics on http://%s:%d/", options.metrics_host, port)
    return port


_keep: set[asyncio.Task[None]] = set()


# ------------------------------------------------------------------------------------ probes (scrape time)


def nats_connected(nc: Any) -> Check:
    async def check() -> bool:
        return bool(nc.is_connected)

    return check


def postgres_reachable(dsn: str) -> Check:
    import asyncpg

    async def check() -> bool:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    return check


def outbox_backlog_probe(dsn: str, schema: str, table: str, service: str) -> Probe:
    """Stored events beyond the relay's recorded position (read from the store, whoever relays; the relay
    records it once a second under load)."""
    import asyncpg

    async def outbox_backlog(metrics: ServiceMetrics) -> None:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
        try:
            row = await conn.fetchrow(
                f'SELECT (SELECT coalesce(max(notification_id), 0) FROM "{schema}"."{table}") AS head, '
                f'(SELECT position FROM "{schema}".outbox_position WHERE service = $1) AS done',
                service,
            )
        finally:
            await conn.close()
        if row is not None:
            backlog = max(0, int(row["head"]) - int(row["done"] or 0))
            metrics.outbox_backlog.labels(metrics.service).set(backlog)

    return outbox_backlog


def consumer_probe(
    nc: Any, namespace: str, durable_prefix: str, known: Sequence[tuple[str, str]] | None = None
) -> Probe:
    """Lag of the service's durables and the dead letters they parked.

    ``known`` lists them as (stream, durable): then only ``CONSUMER.INFO`` is asked, which the tight
    per-service NATS permissions allow. Without it, the durables named ``<prefix>-...`` are found by
    listing the namespace's streams and their consumers (needs ``$JS.API.STREAM.LIST`` and
    ``$JS.API.CONSUMER.LIST.*``).
    """
    from shared.subjects import dead_letter_stream, dead_letter_subject

    deadletter = dead_letter_stream(namespace)

    async def listed(js: Any) -> list[tuple[str, str]]:
        prefix = namespace.upper().replace(".", "_").replace("-", "_") + "_"
        found: list[tuple[str, str]] = []
        for stream in await js.streams_info():
            name = stream.config.name
            if name.startswith(prefix) and name != deadletter:
                found += [(name, c.name) for c in await js.consumers_info(name)]
        return found

    async def consumers(metrics: ServiceMetrics) -> None:
        js = nc.jetstream()
        pairs = list(known) if known is not None else await listed(js)
        for stream, durable in pairs:
            if not durable.startswith(f"{durable_prefix}-"):
                continue
            try:
                info = await js.consumer_info(stream, durable)
            except NotFoundError:  # not created yet: nothing consumed, nothing pending that we know of
                continue
            pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            metrics.consumer_lag.labels(metrics.service, durable, stream).set(pending)
            subject = dead_letter_subject(namespace, durable)
            try:
                parked_info = await js.stream_info(deadletter, subjects_filter=subject)
            except NotFoundError:  # no dead-letter stream yet: nothing parked
                metrics.dead_letters.labels(metrics.service, durable).set(0)
                continue
            parked = (parked_info.state.subjects or {}).get(subject, 0)
            metrics.dead_letters.labels(metrics.service, durable).set(parked)

    return consumers
