"""The field service's own view of customers (region, salesperson, status, grade), fed from the customers
stream: S2 plans visits by grade without asking the customers service.

Writer: a ``DurableConsumer`` named "field" on the customers stream. Each customer event it needs is
kept in ``field.customer_events`` keyed by (customer id, version): a redelivered event inserts nothing,
and the customer's row in ``field.customer_view`` is folded again from its kept events in version order.
Reader: the application asks a ``CustomerDirectory`` (PostgreSQL here, in memory in unit tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any, Protocol

import asyncpg
from nats.aio.client import Client as NATS
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from shared.consumer import DurableConsumer
from shared.contracts import CUSTOMER_STATUS_AFTER_EVENT, Envelope
from shared.migrations import Step, migrate
from shared.settings import Settings

SCHEMA = "field"
CONSUMER_NAME = "field"
SOURCE = "customers"
FOLDED = frozenset({"CustomerRegistered", "CustomerGraded", *CUSTOMER_STATUS_AFTER_EVENT})
# Customers whose visits are planned: not rejected, not suspended (a graded prospect is, C5 rev 2).
VISITED_STATUSES = ("prospect", "credit_check", "approved")


@dataclass(frozen=True)
class FieldCustomer:
    customer_id: str
    region: str
    salesperson_id: str
    status: str
    grade: str | None
    version: int


class CustomerDirectory(Protocol):
    def get(self, customer_id: str) -> FieldCustomer | None: ...

    def of_salesperson(self, salesperson_id: str) -> list[FieldCustomer]:
        """The salesperson's customers whose visits are planned (``VISITED_STATUSES``)."""
        ...


def fold(customer_id: str, events: Iterable[tuple[int, str, dict[str, Any]]]) -> FieldCustomer | None:
    state: dict[str, Any] = {"customer_id": customer_id, "grade": None}
    for version, event_type, data in sorted(events, key=lambda e: e[0]):
        if event_type == "CustomerRegistered":
            state |= {"region": data["region"], "salesperson_id": data["salesperson_id"]}
        elif event_type == "CustomerGraded":
            state["grade"] = data["grade"]
        if event_type in CUSTOMER_STATUS_AFTER_EVENT:
            state["status"] = CUSTOMER_STATUS_AFTER_EVENT[event_type]
        state["version"] = version
    if "region" not in state:  # registration not seen yet
        return None
    return FieldCustomer(**state)


class InMemoryCustomerDirectory:
    """For unit tests: envelopes applied the same way as the PostgreSQL view."""

    def __init__(self) -> None:
        self.events: dict[str, dict[int, tuple[int, str, dict[str, Any]]]] = {}

    def apply(self, envelope: Envelope) -> None:
        if envelope.aggregate_type == "Customer" and envelope.event_type in FOLDED:
            kept = self.events.setdefault(envelope.aggregate_id, {})
            kept.setdefault(
                envelope.aggregate_version, (envelope.aggregate_version, envelope.event_type, envelope.data)
            )

    def get(self, customer_id: str) -> FieldCustomer | None:
        return fold(customer_id, self.events.get(customer_id, {}).values())

    def of_salesperson(self, salesperson_id: str) -> list[FieldCustomer]:
        found = (self.get(customer_id) for customer_id in sorted(self.events))
        return [c for c in found if c and c.salesperson_id == salesperson_id and c.status in VISITED_STATUSES]


class PostgresCustomerDirectory:
    """Reads ``field.customer_view`` from the application's worker threads (planning is rare: no cache)."""

    def __init__(self, settings: Settings) -> None:
        self.pool = ConnectionPool(
            settings.postgres_dsn,
            connection_class=Connection[DictRow],
            min_size=1,
            max_size=2,
            kwargs={"row_factory": dict_row},
            open=False,  # opened on first use: printing the contract document needs no database
        )

    def _rows(self, where: str, *params: Any) -> list[FieldCustomer]:
        if self.pool.closed:
            self.pool.open()
        with self.pool.connection() as conn:
            try:
                rows = conn.execute(
                    f'SELECT * FROM "{SCHEMA}".customer_view WHERE {where} ORDER BY customer_id', params
                ).fetchall()
            except Exception:  # the view is not built yet: nobody is known
                conn.rollback()
                return []
        return [FieldCustomer(**dict(row)) for row in rows]

    def get(self, customer_id: str) -> FieldCustomer | None:
        found = self._rows("customer_id = %s", customer_id)
        return found[0] if found else None

    def of_salesperson(self, salesperson_id: str) -> list[FieldCustomer]:
        return self._rows("salesperson_id = %s AND status = ANY(%s)", salesperson_id, list(VISITED_STATUSES))

    def close(self) -> None:
        if not self.pool.closed:
            self.pool.close()


KEPT_EVENTS = f'SELECT version, event_type, data FROM "{SCHEMA}".customer_events WHERE customer_id = $1'
UPSERT_CUSTOMER = (
    f'INSERT INTO "{SCHEMA}".customer_view (customer_id, region, salesperson_id, status, grade, version) '
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET region = EXCLUDED.region, "
    "salesperson_id = EXCLUDED.salesperson_id, status = EXCLUDED.status, grade = EXCLUDED.grade, "
    "version = EXCLUDED.version"
)


class CustomerViewProjector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.settings.postgres_dsn, min_size=1, max_size=2)
        async with self.pool.acquire() as conn:
            await ensure_tables(conn)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def handle(self, envelopes: Sequence[Envelope]) -> None:
        assert self.pool is not None
        kept = [e for e in envelopes if e.aggregate_type == "Customer" and e.event_type in FOLDED]
        if not kept:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                f'INSERT INTO "{SCHEMA}".customer_events (customer_id, version, event_type, data) '
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                [(e.aggregate_id, e.aggregate_version, e.event_type, json.dumps(e.data)) for e in kept],
            )
            for customer_id in sorted({e.aggregate_id for e in kept}):
                await self._refold(conn, customer_id)

    async def _refold(self, conn: asyncpg.Connection, customer_id: str) -> None:
        rows = await conn.fetch(KEPT_EVENTS, customer_id)
        customer = fold(customer_id, [(r["version"], r["event_type"], json.loads(r["data"])) for r in rows])
        if customer is not None:
            await conn.execute(UPSERT_CUSTOMER, *astuple(customer))


# The view's schema, step by step (append only; shared/migrations.py).
MIGRATIONS: list[Step] = [
    [
        f'CREATE TABLE IF NOT EXISTS "{SCHEMA}".customer_events ('
        "customer_id text NOT NULL, version integer NOT NULL, event_type text NOT NULL, "
        "data jsonb NOT NULL, PRIMARY KEY (customer_id, version))",
        f'CREATE TABLE IF NOT EXISTS "{SCHEMA}".customer_view ('
        "customer_id text PRIMARY KEY, region text NOT NULL, salesperson_id text NOT NULL, "
        "status text NOT NULL, grade text, version integer NOT NULL)",
    ],
]


async def ensure_tables(conn: asyncpg.Connection) -> None:
    await migrate(conn, SCHEMA, "customer_view_migrations", MIGRATIONS)


async def run_customer_view(nc: NATS, settings: Settings, stop: asyncio.Event) -> None:
    """Keep the view up to date until ``stop``."""
    projector = CustomerViewProjector(settings)
    await projector.open()
    try:
        await DurableConsumer(nc, settings, CONSUMER_NAME, SOURCE, projector.handle).run(stop)
    finally:
        await projector.close()
