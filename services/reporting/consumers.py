"""Reporting's consumers: one JetStream durable per source service (durables ``reporting-<service>``).

Each fetched batch is logged and applied atomically (usually in one statement, ``projections.record``):
the log insert, the projection updates and the per-source position commit together, so a crash before
the ack only causes a redelivery, which the log recognises (exactly-once effect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from nats.aio.client import Client as NATS

from services.reporting.projections import SOURCES, analyze, record
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.settings import Settings

log = logging.getLogger(__name__)

DURABLE_PREFIX = "reporting"
# Fresh projection tables have no planner statistics until autovacuum gets to them (up to a minute):
# reports then pick nested loops over hundreds of rows. Refresh the statistics every so many events.
ANALYZE_EVERY = 1000
RELEASE_TIMEOUT = 5.0
# A batch (taking a connection, the statement) that has not ended in this long is given up and tried again
# on another connection: a statement can wait on a connection whose server will never answer, and meanwhile
# JetStream redelivers the batch until its deliveries run out. A batch takes milliseconds.
BATCH_TIMEOUT = 60.0


class Statistics:
    """Refreshes the projections' planner statistics every ``ANALYZE_EVERY`` applied events (all consumers'),
    on a connection of its own: the batches go on meanwhile instead of waiting for it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.since_analyze = 0
        self.analyzing = False
        self.analysis: asyncio.Task[None] | None = None

    def applied(self, count: int) -> None:
        self.since_analyze += count
        if self.since_analyze >= ANALYZE_EVERY and not self.analyzing:
            self.analyzing, self.since_analyze = True, 0
            self.analysis = asyncio.create_task(self._analyze())

    async def _analyze(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                await analyze(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("refreshing the projections' statistics failed (%r); later", error)
        finally:
            self.analyzing = False


class BatchRecorder:
    """One consumer's batch handler: log + apply, all or nothing.

    It keeps one pooled connection from batch to batch: taking one from the pool for each batch cost a
    statement more per batch (the pool resets a connection's session when it gets it back), besides the
    pool's own work, most of a small batch's cost. A batch that fails, runs out of time or is cancelled may
    leave its connection mid-statement (a server gone, a cancel in flight): that connection is terminated,
    never given back to the pool to be reset and reused, and the next batch takes another; ``close`` gives
    a sound one back."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, statistics: Statistics | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.statistics = statistics if statistics is not None else Statistics(pool)
        self.applied = 0
        self.connection: asyncpg.Connection | None = None

    async def __call__(self, envelopes: Sequence[Envelope]) -> None:
        try:
            async with asyncio.timeout(BATCH_TIMEOUT):
                if self.connection is None:
                    self.connection = await self.pool.acquire()
                applied = await record(self.connection, envelopes, self.settings.period_mode)
        except BaseException:
            self._discard()
            raise
        if log.isEnabledFor(logging.DEBUG):  # follows a command from its events into the projections
            correlations = sorted({e.correlation_id for e in envelopes if e.correlation_id})
            extra = {"correlation_ids": correlations}
            log.debug("applied %d of %d events", applied, len(envelopes), extra=extra)
        self.applied += applied
        self.statistics.applied(applied)

    def _discard(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            # Already released when the server dropped it (the pool took its holder back): nothing left.
            with contextlib.suppress(asyncpg.InterfaceError):
                connection.terminate()

    async def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            # One lost while idle fails its reset: the pool drops it, which is all that is left to do.
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self.pool.release(connection, timeout=RELEASE_TIMEOUT)


def make_consumers(
    nc: NATS, pool: asyncpg.Pool, settings: Settings, sources: Sequence[str] = SOURCES
) -> list[DurableConsumer]:
    statistics = Statistics(pool)
    consumers = []
    for source in sources:
        # Once stopped, its recorder gives its connection back (closing the pool waits for it).
        recorder = BatchRecorder(pool, settings, statistics)
        consumers.append(DurableConsumer(nc, settings, DURABLE_PREFIX, source, recorder, recorder.close))
    return consumers


def start_consumers(consumers: Sequence[DurableConsumer], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c.run(stop), name=c.durable) for c in consumers]
