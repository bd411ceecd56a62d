"""The customer directory: customers by region, kind, grade, salesperson or status, and the securities
and contracts that expire (C11, C12 alerts): a read model.

Fed from the service's own events on the bus (a durable consumer "customers-directory"), like every
read side here; it follows the store within milliseconds. Each group of columns keeps the aggregate
version of the event that set it, so redelivered or out-of-order events leave the same row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS

from services.customers.commands import ExpiringList, ListCustomers, ListExpiring
from shared.clock import BUSINESS_TZ, Clock
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.customer_contract import (
    ContractSigned,
    ContractTerminated,
    CustomerApproved,
    CustomerGraded,
    CustomerRegionMoved,
    CustomerRegistered,
    SalespersonReassigned,
    SecurityRecorded,
    SecurityReleased,
    decode,
)
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
-- C10: the salesperson and the region change later; each keeps the version of the event that set it
ALTER TABLE {SCHEMA}.directory
    ADD COLUMN IF NOT EXISTS salesperson_version integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS region_version integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS directory_region ON {SCHEMA}.directory (region, kind);
CREATE INDEX IF NOT EXISTS directory_salesperson ON {SCHEMA}.directory (salesperson_id);
CREATE TABLE IF NOT EXISTS {SCHEMA}.expiring (
    customer_id text NOT NULL,
    item text NOT NULL,
    slot text NOT NULL,
    item_id text NOT NULL,
    expires_on date NOT NULL,
    detail jsonb NOT NULL,
    active boolean NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (customer_id, item, slot)
);
CREATE INDEX IF NOT EXISTS expiring_on ON {SCHEMA}.expiring (expires_on) WHERE active;
"""

UPSERT_INFO = f"""
INSERT INTO {SCHEMA}.directory (customer_id, kind, region, salesperson_id, company_name)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (customer_id) DO UPDATE SET kind = $2, company_name = $5,
    region = CASE WHEN {SCHEMA}.directory.region_version = 0 THEN $3 ELSE {SCHEMA}.directory.region END,
    salesperson_id = CASE WHEN {SCHEMA}.directory.salesperson_version = 0 THEN $4
                          ELSE {SCHEMA}.directory.salesperson_id END
"""
UPSERT_SALESPERSON = f"""
INSERT INTO {SCHEMA}.directory (customer_id, salesperson_id, salesperson_version) VALUES ($1, $2, $3)
ON CONFLICT (customer_id) DO UPDATE SET salesperson_id = $2, salesperson_version = $3
WHERE {SCHEMA}.directory.salesperson_version < $3
"""
UPSERT_REGION = f"""
INSERT INTO {SCHEMA}.directory (customer_id, region, region_version) VALUES ($1, $2, $3)
ON CONFLICT (customer_id) DO UPDATE SET region = $2, region_version = $3
WHERE {SCHEMA}.directory.region_version < $3
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

UPSERT_EXPIRING = f"""
INSERT INTO {SCHEMA}.expiring (customer_id, item, slot, item_id, expires_on, detail, active, version)
VALUES ($1, $2, $3, $4, $5, $6, true, $7)
ON CONFLICT (customer_id, item, slot) DO UPDATE
SET item_id = $4, expires_on = $5, detail = $6, active = true, version = $7
WHERE {SCHEMA}.expiring.version < $7
"""
END_EXPIRING = f"""
UPDATE {SCHEMA}.expiring SET active = false, version = $4
WHERE customer_id = $1 AND item = $2 AND slot = $3 AND version < $4
"""
SELECT_EXPIRING = f"""
SELECT e.customer_id, e.item, e.item_id, e.expires_on, e.detail, d.code, d.company_name
FROM {SCHEMA}.expiring e LEFT JOIN {SCHEMA}.directory d USING (customer_id)
WHERE e.active AND e.expires_on BETWEEN $1 AND $2
ORDER BY e.expires_on, e.customer_id, e.item_id LIMIT $3
"""
CONTRACT_SLOT = "contract"  # a customer has one contract at a time: a new one takes the old one's row


class CustomerDirectory:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
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

    async def expiring(self, query: ListExpiring) -> dict[str, Any]:
        """C11/C12: what expires from ``as_of`` (today, Asia/Shanghai) to ``within_days`` after it."""
        as_of = query.as_of or self.clock.now().astimezone(BUSINESS_TZ).date()
        pool = await self.pool()
        rows = await pool.fetch(
            SELECT_EXPIRING, as_of, as_of + timedelta(days=query.within_days), query.limit
        )
        items = [
            {
                "customer_id": row["customer_id"],
                "item": row["item"],
                "item_id": row["item_id"],
                "expires_on": row["expires_on"],
                "days_left": (row["expires_on"] - as_of).days,
                "detail": json.loads(row["detail"])
                | {"code": row["code"], "company_name": row["company_name"]},
            }
            for row in rows
        ]
        return ExpiringList.model_validate({"items": items, "count": len(items)}).model_dump(mode="json")

    async def run(self, nc: NATS, stop: asyncio.Event) -> None:
        consumer = DurableConsumer(nc, self.settings, "customers-directory", "customers", self.apply)
        await consumer.run(stop)


async def _apply(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = decode(envelope)
    if event is None:  # not an event this release knows
        return
    customer_id, version = envelope.aggregate_id, envelope.aggregate_version
    match event:
        case CustomerRegistered():
            await conn.execute(
                UPSERT_INFO,
                customer_id,
                event.kind.value,
                event.region,
                event.salesperson_id,
                event.company_name,
            )
        case CustomerApproved(code=code):
            await conn.execute(UPSERT_CODE, customer_id, code)
        case CustomerGraded(grade=grade):
            await conn.execute(UPSERT_GRADE, customer_id, grade.value, version)
        case SalespersonReassigned(salesperson_id=salesperson_id):
            await conn.execute(UPSERT_SALESPERSON, customer_id, salesperson_id, version)
        case CustomerRegionMoved(region=region):
            await conn.execute(UPSERT_REGION, customer_id, region, version)
        case SecurityRecorded():
            detail = {
                "security_kind": event.security_kind.value,
                "value": str(event.value),
                "holder": event.holder,
            }
            await conn.execute(
                UPSERT_EXPIRING,
                customer_id,
                "security",
                event.security_id,
                event.security_id,
                event.expires_on,
                json.dumps(detail),
                version,
            )
        case SecurityReleased(security_id=security_id):
            await conn.execute(END_EXPIRING, customer_id, "security", security_id, version)
        case ContractSigned():
            await conn.execute(
                UPSERT_EXPIRING,
                customer_id,
                "contract",
                CONTRACT_SLOT,
                event.contract_number,
                event.valid_to,
                json.dumps({"valid_from": event.valid_from.isoformat()}),
                version,
            )
        case ContractTerminated():
            await conn.execute(END_EXPIRING, customer_id, "contract", CONTRACT_SLOT, version)
    if event.STATUS is not None:
        await conn.execute(UPSERT_STATUS, customer_id, event.STATUS.value, version)
