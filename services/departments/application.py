"""A department's feed (O10) in PostgreSQL: each order as the department knows it, and the stream
positions it has applied, written in one transaction so that a redelivered event changes nothing.

Events may come out of stream order (a batch unacknowledged when a process died is redelivered after
newer ones), so each order's events are kept and the order is folded again from them, in stream order,
whenever one arrives: a payment taken in before its order's placement is not lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.departments import commands as c
from services.departments.feeds import (
    ORDER_EVENTS,
    READERS,
    Department,
    OrderFacts,
    apply,
    open_amount,
    order_of,
    to_do,
)
from shared.contracts import Envelope
from shared.errors import Forbidden
from shared.identity.scope import acting

SCHEMA = "departments"
TABLES = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.feed (
    department text NOT NULL,
    order_id text NOT NULL,
    customer_id text NOT NULL,
    to_do text,
    placed_at timestamptz NOT NULL,
    facts jsonb NOT NULL,
    PRIMARY KEY (department, order_id)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.applied (
    department text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (department, position)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.order_events (
    department text NOT NULL,
    order_id text NOT NULL,
    position bigint NOT NULL,
    event jsonb NOT NULL,
    PRIMARY KEY (department, order_id, position)
);
"""
SCHEMA_LOCK = 0x0D10  # the three department processes may start together


def _stored(facts: OrderFacts) -> str:
    return json.dumps(asdict(facts), default=str)


def _loaded(text: str) -> OrderFacts:
    row: dict[str, Any] = json.loads(text)
    for name in ("total_amount", "shipped_amount", "paid_amount"):
        row[name] = Decimal(row[name])
    for name in ("placed_at", "updated_at"):
        row[name] = datetime.fromisoformat(row[name])
    return OrderFacts(**row)


class FeedStore:
    def __init__(self, pool: asyncpg.Pool, department: Department) -> None:
        self.pool = pool
        self.department = department

    async def ensure_schema(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
            await conn.execute(TABLES)

    async def take_in(self, events: Sequence[Envelope]) -> None:
        """Apply a batch of the orders stream; positions applied already are skipped (a redelivery)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for event in events:
                if event.event_type not in ORDER_EVENTS:
                    continue
                first_time = await conn.fetchval(
                    f"INSERT INTO {SCHEMA}.applied VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                    self.department.value,
                    event.position,
                )
                if first_time:
                    await self._apply(conn, event)

    async def _apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        order_id = order_of(event)
        # one fold of an order at a time (two instances of the feed may take in its events together)
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.department}:{order_id}")
        await conn.execute(
            f"INSERT INTO {SCHEMA}.order_events VALUES ($1, $2, $3, $4)",
            self.department.value,
            order_id,
            event.position,
            event.model_dump_json(),
        )
        kept = await conn.fetch(
            f"SELECT event FROM {SCHEMA}.order_events WHERE department = $1 AND order_id = $2 "
            "ORDER BY position",
            self.department.value,
            order_id,
        )
        facts: OrderFacts | None = None
        for row in kept:
            facts = apply(facts, Envelope.model_validate_json(row["event"]))
        if facts is None:
            return  # its placement has not come yet: folded when it does
        await conn.execute(
            f"INSERT INTO {SCHEMA}.feed VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (department, order_id) "
            "DO UPDATE SET to_do = excluded.to_do, facts = excluded.facts",
            self.department.value,
            facts.order_id,
            facts.customer_id,
            to_do(self.department, facts),
            facts.placed_at,
            _stored(facts),
        )

    async def get_feed(self, query: c.GetFeed) -> dict[str, Any]:
        who = acting()
        allowed = READERS[self.department]
        if who is not None and not any(grant.role in allowed for grant in who.grants):
            raise Forbidden(
                f"{who.user} may not read the {self.department} feed",
                rule="O10",
                details={"allowed": sorted(allowed)},
            )
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT facts FROM {SCHEMA}.feed WHERE department = $1"
                " AND (NOT $2 OR to_do IS NOT NULL) AND ($3::text IS NULL OR customer_id = $3)"
                " ORDER BY placed_at, order_id LIMIT $4",
                self.department.value,
                query.pending_only,
                query.customer_id,
                query.limit,
            )
            position = await conn.fetchval(
                f"SELECT coalesce(max(position), 0) FROM {SCHEMA}.applied WHERE department = $1",
                self.department.value,
            )
        entries = [self._entry(_loaded(row["facts"])) for row in rows]
        feed = c.DepartmentFeed(department=self.department.value, orders=entries, position=position)
        return feed.model_dump(mode="json")

    def _entry(self, facts: OrderFacts) -> c.FeedEntry:
        return c.FeedEntry(
            order_id=facts.order_id,
            order_number=facts.order_number,
            customer_id=facts.customer_id,
            region=facts.region,
            channel=facts.channel,
            status=facts.status,
            to_do=to_do(self.department, facts),
            amount=open_amount(self.department, facts),
            placed_at=facts.placed_at,
            updated_at=facts.updated_at,
        )
