"""Reporting's consumers: one JetStream durable per source service (durables ``reporting-<service>``).

Each fetched batch is logged and applied atomically (usually in one statement, ``projections.record``):
the log insert, the projection updates and the per-source position commit together, so a crash before
the ack only causes a redelivery, which the log recognises (exactly-once effect).
"""

from __future__ import annotations

import asyncio
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


class BatchRecorder:
    """The batch handler shared by the consumers: log + apply, all or nothing."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.applied = 0
        self.since_analyze = 0
        self.analyzing = False
        self.analysis: asyncio.Task[None] | None = None

    async def __call__(self, envelopes: Sequence[Envelope]) -> None:
        async with self.pool.acquire() as conn:
            applied = await record(conn, envelopes, self.settings.period_mode)
            if log.isEnabledFor(logging.DEBUG):  # follows a command from its events into the projections
                correlations = sorted({e.correlation_id for e in envelopes if e.correlation_id})
                extra = {"correlation_ids": correlations}
                log.debug("applied %d of %d events", applied, len(envelopes), extra=extra)
        self.applied += applied
        self.since_analyze += applied
        if self.since_analyze >= ANALYZE_EVERY and not self.analyzing:
            self.analyzing, self.since_analyze = True, 0
            # On a connection of its own: the batches go on meanwhile instead of waiting for it.
            self.analysis = asyncio.create_task(self._analyze())

    async def _analyze(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                await analyze(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("refreshing the projections' statistics failed (%r); later", error)
        finally:
            self.analyzing = False


def make_consumers(
    nc: NATS, pool: asyncpg.Pool, settings: Settings, sources: Sequence[str] = SOURCES
) -> list[DurableConsumer]:
    handler = BatchRecorder(pool, settings)
    return [DurableConsumer(nc, settings, DURABLE_PREFIX, source, handler) for source in sources]


def start_consumers(consumers: Sequence[DurableConsumer], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c.run(stop), name=c.durable) for c in consumers]
