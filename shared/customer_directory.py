"""A service's own directory of customers (region, salesperson, status, grade), fed from the customers
stream: the field service plans visits by grade (S2), and field and complaints check scopes (DOMAIN.md
"Actors and roles", rev 2) without asking the customers service.

Writer: a ``DurableConsumer`` named after the service on the customers stream. Each customer event it needs
is kept in ``<schema>.customer_events`` keyed by (customer id, version): a redelivered event inserts
nothing, and the customer's row in ``<schema>.customer_view`` is folded again from its kept events in
version order (``shared.customer_events``, the part orders' richer view uses too).
Reader: the application asks a ``CustomerDirectory`` (PostgreSQL here, in memory in unit tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any, Protocol

import asyncpg
from nats.aio.client import Client as NATS
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from shared import customer_events
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.customer_contract import (
    EVENTS,
    SOURCE,
    CustomerGraded,
    CustomerRegionMoved,
    CustomerRegistered,
    SalespersonReassigned,
)
from shared.identity.scope import require_scope
from shared.migrations import Step, migrate
from shared.settings import Settings

# The events the directory folds: those that set what it keeps, and every one that sets the status.
FOLDED = frozenset(
    {
        CustomerRegistered.__name__,
        CustomerGraded.__name__,
        SalespersonReassigned.__name__,  # C10 rev 2: the scopes follow the customer to its salesperson ...
        CustomerRegionMoved.__name__,  # ... and region
        *(name for name, model in EVENTS.items() if model.STATUS is not None),
    }
)
# Customers worked now: not rejected, not suspended (a graded prospect is, C5 rev 2).
WORKED_STATUSES = ("prospect", "credit_check", "approved")


@dataclass(frozen=True)
class DirectoryCustomer:
    customer_id: str
    region: str
    salesperson_id: str
    status: str
    grade: str | None
    version: int


class CustomerDirectory(Protocol):
    def get(self, customer_id: str) -> DirectoryCustomer | None: ...

    def of_salesperson(self, salesperson_id: str) -> list[DirectoryCustomer]:
        """The salesperson's customers worked now (``WORKED_STATUSES``)."""
        ...


def require_customer_scope(directory: CustomerDirectory, customer_id: str, subject: str) -> None:
    """Refuse unless the acting user covers the customer's region (a salesperson: their own customers).
    A customer the view does not know yet has no scope to check (its registration is still on its way)."""
    customer = directory.get(customer_id)
    if customer is not None:
        require_scope(customer.region, customer.salesperson_id, subject)


def fold(customer_id: str, events: Iterable[customer_events.KeptEvent]) -> DirectoryCustomer | None:
    state: dict[str, Any] = {"customer_id": customer_id, "grade": None}
    for version, event in customer_events.in_order(events):
        match event:
            case CustomerRegistered(region=region, salesperson_id=salesperson_id):
                state |= {"region": region, "salesperson_id": salesperson_id}
            case CustomerGraded(grade=grade):
                state["grade"] = grade.value
            case SalespersonReassigned(salesperson_id=salesperson_id):
                state["salesperson_id"] = salesperson_id
            case CustomerRegionMoved(region=region):
                state["region"] = region
        if event is not None and event.STATUS is not None:
            state["status"] = event.STATUS.value
        state["version"] = version
    if "region" not in state:  # registration not seen yet
        return None
    return DirectoryCustomer(**state)


class InMemoryCustomerDirectory:
    """For unit tests: envelopes applied the same way as the PostgreSQL view."""

    def __init__(self) -> None:
        self.kept = customer_events.KeptEvents(FOLDED)

    def apply(self, envelope: Envelope) -> None:
        self.kept.apply(envelope)

    def get(self, customer_id: str) -> DirectoryCustomer | None:
        return fold(customer_id, self.kept.of(customer_id))

    def of_salesperson(self, salesperson_id: str) -> list[DirectoryCustomer]:
        found = (self.get(customer_id) for customer_id in self.kept.customers())
        return [c for c in found if c and c.salesperson_id == salesperson_id and c.status in WORKED_STATUSES]


class PostgresCustomerDirectory:
    """Reads ``<schema>.customer_view`` from the application's worker threads (no cache: a row changes
    with the customer's events, and scopes must see the latest salesperson)."""

    def __init__(self, settings: Settings, schema: str) -> None:
        self.schema = schema
        self.pool = ConnectionPool(
            settings.postgres_dsn,
            connection_class=Connection[DictRow],
            min_size=1,
            max_size=2,
            kwargs={"row_factory": dict_row},
            open=False,  # opened on first use: printing the contract document needs no database
        )

    def _rows(self, where: str, *params: Any) -> list[DirectoryCustomer]:
        if self.pool.closed:
            self.pool.open()
        with self.pool.connection() as conn:
            try:
                rows = conn.execute(
                    f'SELECT * FROM "{self.schema}".customer_view WHERE {where} ORDER BY customer_id', params
                ).fetchall()
            except Exception:  # the view is not built yet: nobody is known
                conn.rollback()
                return []
        return [DirectoryCustomer(**dict(row)) for row in rows]

    def get(self, customer_id: str) -> DirectoryCustomer | None:
        found = self._rows("customer_id = %s", customer_id)
        return found[0] if found else None

    def of_salesperson(self, salesperson_id: str) -> list[DirectoryCustomer]:
        return self._rows("salesperson_id = %s AND status = ANY(%s)", salesperson_id, list(WORKED_STATUSES))

    def close(self) -> None:
        if not self.pool.closed:
            self.pool.close()


def migrations(schema: str) -> list[Step]:
    """The view's schema, step by step (append only; shared/migrations.py)."""
    return [
        [
            customer_events.customer_events_table(schema),
            f'CREATE TABLE IF NOT EXISTS "{schema}".customer_view ('
            "customer_id text PRIMARY KEY, region text NOT NULL, salesperson_id text NOT NULL, "
            "status text NOT NULL, grade text, version integer NOT NULL)",
        ],
    ]


class CustomerViewProjector:
    def __init__(self, settings: Settings, schema: str) -> None:
        self.settings = settings
        self.schema = schema
        self.pool: asyncpg.Pool | None = None
        self.upsert = (
            f'INSERT INTO "{schema}".customer_view (customer_id, region, salesperson_id, status, grade, '
            "version) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET "
            "region = EXCLUDED.region, salesperson_id = EXCLUDED.salesperson_id, status = EXCLUDED.status, "
            "grade = EXCLUDED.grade, version = EXCLUDED.version"
        )

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.settings.postgres_dsn, min_size=1, max_size=2)
        async with self.pool.acquire() as conn:
            await migrate(conn, self.schema, "customer_view_migrations", migrations(self.schema))

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def handle(self, envelopes: Sequence[Envelope]) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            for customer_id in await customer_events.keep_events(conn, self.schema, envelopes, FOLDED):
                customer = fold(
                    customer_id, await customer_events.kept_events(conn, self.schema, customer_id)
                )
                if customer is not None:
                    await conn.execute(self.upsert, *astuple(customer))


async def run_customer_view(nc: NATS, settings: Settings, schema: str, stop: asyncio.Event) -> None:
    """Keep the service's view (its durable consumer is named as its schema) up to date until ``stop``."""
    projector = CustomerViewProjector(settings, schema)
    await projector.open()
    try:
        await DurableConsumer(nc, settings, schema, SOURCE, projector.handle).run(stop)
    finally:
        await projector.close()
