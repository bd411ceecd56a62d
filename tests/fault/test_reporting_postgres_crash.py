"""Reporting's consumers (one per source of the flow) under a steady flow of events while their PostgreSQL
server is killed (kill -9) mid-batch, more than once, and started again after a few seconds: every consumer
catches up by itself, with no event lost, none counted twice, and the live projections equal to a rebuild.

The server is a cluster of the test's own (``deploy.ops.pgcluster``), never the machine's shared one; NATS is
the shared server, in a namespace of the test's own. A connection whose statement was cut short (by the crash,
or by the batch's deadline) is terminated, never used again nor given back to the pool in that state."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Sequence

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS

from deploy.ops.checks import connect, drill_workdir, live_equals_rebuild
from deploy.ops.pgcluster import LocalPostgres
from services.reporting import consumers
from services.reporting.bulk import LOG_LOCK
from services.reporting.consumers import BatchRecorder
from services.reporting.main import ReportingService, open_pool, start_reporting, stopped
from services.reporting.projections import SOURCES
from shared.contracts import Envelope
from shared.database import ensure_database
from shared.settings import Settings
from shared.streams import delete_streams
from shared.subjects import stream_name
from tests.conftest import unique_settings, wait_for
from tests.integration.reporting_kit import Events, publish, seed_month

pytestmark = [pytest.mark.integration, pytest.mark.fault]

CRASHES = 6  # at most, while the flow lasts
MIN_CRASHES = 3
DOWN_SECONDS = 3.0  # the restart takes a few seconds, as a crash recovery does
FLOW_CHUNK = 10  # envelopes published at a time, every FLOW_PAUSE seconds: a steady flow
FLOW_PAUSE = 0.1
CATCH_UP_SECONDS = 120.0


@pytest.fixture
async def postgres() -> AsyncIterator[LocalPostgres]:
    workdir = drill_workdir("reporting-crash")
    server = LocalPostgres(workdir / "pg" / "data")
    server.init()
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[NATS]:
    nc = await nats.connect(settings.nats_url)
    try:
        yield nc
    finally:
        await delete_streams(nc.jetstream(), settings, list(SOURCES))
        await nc.close()


@pytest.fixture
def settings(postgres: LocalPostgres) -> Settings:
    # Small batches and a short ack wait: many batches in flight when the server dies, and what a consumer
    # held comes back soon.
    return unique_settings(postgres_port=postgres.port, consumer_batch_size=50, consumer_ack_wait_seconds=3)


def month_of_events() -> list[Envelope]:
    ev = Events()
    seed_month(ev, 2026, 3, distributors=400, branches=10)
    return ev.made


async def steady_flow(nc: NATS, settings: Settings, envelopes: Sequence[Envelope]) -> None:
    js = nc.jetstream()
    for start in range(0, len(envelopes), FLOW_CHUNK):
        await publish(js, settings, envelopes[start : start + FLOW_CHUNK])
        await asyncio.sleep(FLOW_PAUSE)


async def logged_per_source(settings: Settings) -> dict[str, int]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT service, count(*) AS n FROM reporting.event_log GROUP BY service")
    finally:
        await conn.close()
    return {r["service"]: r["n"] for r in rows}


async def crash_mid_batch(
    postgres: LocalPostgres, settings: Settings, reporting: ReportingService, flow: asyncio.Task[None]
) -> bool:
    """kill -9 while the consumers' batches are in flight: once they apply batches again, the log's lock is
    held here so that every next batch waits inside its statement, and the server dies under them. False
    when the flow ended first (no crash)."""
    applied = [c.handle.applied for c in reporting.consumers]  # type: ignore[attr-defined]
    await wait_for(lambda: _applying(reporting, applied, flow), timeout=CATCH_UP_SECONDS, every=0.02)
    if flow.done():
        return False
    holder = await asyncpg.connect(settings.postgres_dsn)
    await holder.execute("SELECT pg_advisory_lock($1)", LOG_LOCK)
    await wait_for(lambda: _batches_waiting(holder, len(reporting.consumers)), timeout=CATCH_UP_SECONDS)
    await asyncio.to_thread(postgres.kill)
    holder.terminate()
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(postgres.start)
    return True


async def _batches_waiting(conn: asyncpg.Connection, consumers: int) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
        LOG_LOCK,
    )
    return bool(waiting >= consumers)


async def _applying(reporting: ReportingService, before: list[int], flow: asyncio.Task[None]) -> bool:
    after = [c.handle.applied for c in reporting.consumers]  # type: ignore[attr-defined]
    return flow.done() or sum(a > b for a, b in zip(after, before, strict=True)) >= 2


async def test_every_consumer_catches_up_after_postgres_is_killed_mid_batch(
    postgres: LocalPostgres, settings: Settings, bus: NATS
) -> None:
    await asyncio.to_thread(ensure_database, settings)
    envelopes = month_of_events()
    sources = sorted({e.service for e in envelopes})  # several consumers, each with its own batches
    expected = {s: sum(e.service == s for e in envelopes) for s in sources}
    stop = asyncio.Event()
    reporting = await start_reporting(settings, stop, sources=sources, queries=False)
    flow = asyncio.create_task(steady_flow(bus, settings, envelopes))
    try:
        crashes = 0
        while crashes < CRASHES and await crash_mid_batch(postgres, settings, reporting, flow):
            crashes += 1
        await flow
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: _caught_up(settings, expected), timeout=CATCH_UP_SECONDS, every=1.0)
        logged = await logged_per_source(settings)
        on_stream = {
            s: (await bus.jetstream().stream_info(stream_name(settings.namespace, s))).state.messages
            for s in sources
        }
    finally:
        flow.cancel()
        stop.set()
        await stopped(reporting)
    assert crashes >= MIN_CRASHES, crashes
    assert on_stream == expected  # the flow itself is whole: what follows is reporting's doing
    assert logged == expected, f"logged {logged}, published {expected}"  # no event lost, none twice
    conn = await connect(settings)
    try:
        assert await live_equals_rebuild(conn, settings)
    finally:
        await conn.close()


async def _caught_up(settings: Settings, expected: dict[str, int]) -> bool:
    try:
        return await logged_per_source(settings) == expected
    except (OSError, asyncpg.PostgresError):
        return False


async def test_a_batch_held_past_its_deadline_is_given_up_and_retried_on_another_connection(
    postgres: LocalPostgres, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement that never ends (here: it waits on the log's lock, held by this test) must not hold its
    consumer forever: the batch is given up, its connection terminated, and the next try, on another
    connection, records it once."""
    monkeypatch.setattr(consumers, "BATCH_TIMEOUT", 1.0)
    await asyncio.to_thread(ensure_database, settings)
    envelopes = month_of_events()[:40]
    pool = await open_pool(settings)
    recorder = BatchRecorder(pool, settings)
    holder = await connect(settings)
    try:
        await recorder(envelopes[:20])
        assert recorder.connection is not None
        first = recorder.connection.get_server_pid()
        await holder.execute("SELECT pg_advisory_lock($1)", LOG_LOCK)
        held = asyncio.create_task(recorder(envelopes[20:]))
        done, _ = await asyncio.wait([held], timeout=10)
        assert held in done and isinstance(held.exception(), TimeoutError)
        assert recorder.connection is None
        await holder.execute("SELECT pg_advisory_unlock($1)", LOG_LOCK)
        await recorder(envelopes[20:])
        assert recorder.connection is not None and recorder.connection.get_server_pid() != first
        logged = await holder.fetchval("SELECT count(*) FROM reporting.event_log")
        assert logged == len(envelopes)
        assert await live_equals_rebuild(holder, settings)
    finally:
        await recorder.close()
        await holder.close()
        await asyncio.wait_for(pool.close(), 10)
