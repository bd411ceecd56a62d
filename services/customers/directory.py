"""The customer directory: customers by region, kind, grade, salesperson or status (a read model).

Fed from the service's own events on the bus (a durable consumer "customers-directory"), like every
read side here; it follows the store within milliseconds. Each group of columns keeps the aggregate
version of the event that set it, so redelivered or out-of-order events leave the same row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS

from services.customers.commands import ListCustomers
from shared.consumer import DurableConsumer
from shared.contracts import CUSTOMER_STATUS_AFTER_EVENT, Envelope
from shared.settings import Settings

SCHEMA = "customers"
# CreditInvestigated of a poor rating is followed by CustomerRejected (a later version), so "last wins".

DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.directory (
    customer_id text PRIMARY KEY,
    kind text, region text, salesperson_id text, company_name text,
    status text, status_version integer NOT NULL DEFAULT 0,
    code text,
    grade text, grade_version integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS directory_region ON {SCHEMA}.directory (region, kind);
CREATE INDEX IF NOT EXISTS directory_salesperson ON {SCHEMA}.directory (salesperson_id);
"""

UPSERT_INFO = f"""
INSERT INTO {SCHEMA}.directory (customer_id, kind, region, salesperson_id, company_name)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (customer_id) DO UPDATE SET kind = $2, region = $3, salesperson_id = $4, company_name = $5
"""
UPSERT_STATUS = f"""
INSERT INTO {SCHEMA}.directory (customer_id, status, status_version) VALUES ($1, $2, $3)
ON CONFLICT (customer_id) DO UPDATE SET status = $2, status_version = $3
WHERE {SCHEMA}.directory.status_version < $3
"""
UPSERT_CODE = f"""
INSERT INTO {SCHEMA}.directory (customer_id, code) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE SET code = $2
"""
UPSERT_GRADE = f"""
INSERT INTO {SCHEMA}.directory (customer_id, grade, grade_version) VALUES ($1, $2, $3)
ON CONFLICT (customer_id) DO UPDATE SET grade = $2, grade_version = $3
WHERE {SCHEMA}.directory.grade_version < $3
"""


class CustomerDirectory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            pool = await asyncpg.create_pool(self.settings.postgres_dsn, min_size=1, max_size=4)
            assert pool is not None
            async with pool.acquire() as conn, conn.transaction():
                # Two instances starting at once: concurrent CREATE ... IF NOT EXISTS can fail on pg_type.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('customers.directory.ddl'))")
                await conn.execute(DDL)
            self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def apply(self, envelopes: Sequence[Envelope]) -> None:
        """One transaction per batch; safe to apply again."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            for envelope in envelopes:
                await _apply(conn, envelope)

    async def list(self, query: ListCustomers) -> dict[str, Any]:
        filters = {
            "region": query.region,
            "kind": query.kind,
            "grade": query.grade,
            "salesperson_id": query.salesperson_id,
            "status": query.status,
        }
        wanted = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ${n}" for n, column in enumerate(wanted, start=1)) or "TRUE"
        pool = await self.pool()
        rows = await pool.fetch(
            f"SELECT customer_id, code, kind, region, grade, salesperson_id, status, company_name "
            f"FROM {SCHEMA}.directory WHERE kind IS NOT NULL AND {where} "
            f"ORDER BY region, code NULLS LAST, customer_id LIMIT {query.limit} OFFSET {query.offset}",
            *(str(value) for value in wanted.values()),
        )
        return {"customers": [dict(row) for row in rows], "count": len(rows)}

    async def run(self, nc: NATS, stop: asyncio.Event) -> None:
        consumer = DurableConsumer(nc, self.settings, "customers-directory", "customers", self.apply)
        await consumer.run(stop)


async def _apply(conn: asyncpg.Connection, envelope: Envelope) -> None:
    if envelope.aggregate_type != "Customer":
        return
    customer_id, version, data = envelope.aggregate_id, envelope.aggregate_version, envelope.data
    if envelope.event_type == "CustomerRegistered":
        await conn.execute(
            UPSERT_INFO,
            customer_id,
            data["kind"],
            data["region"],
            data["salesperson_id"],
            data["company_name"],
        )
    elif envelope.event_type == "CustomerApproved":
        await conn.execute(UPSERT_CODE, customer_id, data["code"])
    elif envelope.event_type == "CustomerGraded":
        await conn.execute(UPSERT_GRADE, customer_id, data["grade"], version)
    if envelope.event_type in CUSTOMER_STATUS_AFTER_EVENT:
        await conn.execute(
            UPSERT_STATUS, customer_id, CUSTOMER_STATUS_AFTER_EVENT[envelope.event_type], version
        )
