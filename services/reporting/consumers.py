"""Reporting's consumers: one JetStream durable per source service (durables ``reporting-<service>``).

Each fetched batch is logged and applied in ONE asyncpg transaction: the log insert, the projection
updates and the per-source position commit together, so a crash before the ack only causes a
redelivery, which the log recognises (exactly-once effect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from nats.aio.client import Client as NATS

from services.reporting.projections import SOURCES, record
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.settings import Settings

DURABLE_PREFIX = "reporting"


class BatchRecorder:
    """The batch handler shared by the consumers: log + apply in one transaction."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.applied = 0

    async def __call__(self, envelopes: Sequence[Envelope]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            self.applied += await record(conn, envelopes, self.settings.period_mode)


def make_consumers(
    nc: NATS, pool: asyncpg.Pool, settings: Settings, sources: Sequence[str] = SOURCES
) -> list[DurableConsumer]:
    handler = BatchRecorder(pool, settings)
    return [DurableConsumer(nc, settings, DURABLE_PREFIX, source, handler) for source in sources]


def start_consumers(consumers: Sequence[DurableConsumer], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c.run(stop), name=c.durable) for c in consumers]
