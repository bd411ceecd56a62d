"""Orders' own view of customers, built from customer events on the bus (no call to the customers service).

Writer: a ``DurableConsumer`` named "orders" on the customers stream. Each customer event is kept in
``orders.customer_events`` keyed by (customer id, aggregate version) — a redelivered event inserts
nothing — and the customer's row in ``orders.customer_view`` is folded again from all its kept events
in version order, so events arriving out of order per customer still end in the right state.
Reader: the application asks a ``CustomerDirectory`` (PostgreSQL here, in memory in unit tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import asyncpg
import psycopg
from nats.aio.client import Client as NATS
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from services.orders.domain import CustomerSnapshot
from services.orders.domain.common import Security
from services.orders.results import security_json
from shared.consumer import DurableConsumer
from shared.contracts import Envelope
from shared.customer_contract import (
    SOURCE,
    CapitalLimitSet,
    ContractChangeApproved,
    ContractSigned,
    ContractTerminated,
    ContractTerms,
    CreditInvestigated,
    CreditRaiseApproved,
    CreditRevised,
    CustomerEvent,
    CustomerOrdersHeld,
    CustomerOrdersReleased,
    CustomerRegionMoved,
    CustomerRegistered,
    PrepaymentRecorded,
    SalespersonReassigned,
    SecurityRecorded,
    SecurityReleased,
    decode,
)
from shared.customer_events import (
    KeptEvent,
    KeptEvents,
    customer_events_table,
    in_order,
    keep_events,
    kept_events,
)
from shared.migrations import Step, migrate
from shared.settings import Settings
from shared.subjects import stream_name

log = logging.getLogger(__name__)

SCHEMA = "orders"
CONSUMER_NAME = "orders"
CHANGED_CHANNEL = "orders_customer_view_changed"  # payload: the customer id whose row changed
MIGRATIONS_TABLE = "customer_view_migrations"  # the steps of MIGRATIONS this view has had
NEW_COLUMNS = (
    "contract_number text",
    "product_scope text[]",
    "annual_volume numeric(16, 2)",
    "orders_held boolean NOT NULL DEFAULT false",
    "discount_tiers jsonb NOT NULL DEFAULT '{}'",
    "securities jsonb NOT NULL DEFAULT '[]'",
)
# O4: a signed or changed contract may release the orders waiting for it
CONTRACT_EVENTS = (ContractSigned, ContractChangeApproved)
TERMS_DAYS = re.compile(r"(\d{1,3})\s*(?:days?|天)", re.IGNORECASE)


class CustomerDirectory(Protocol):
    """The port the application decides from."""

    def get(self, customer_id: str) -> CustomerSnapshot | None: ...

    def branches(self) -> list[str]:
        """The ids of the branches known (for the monthly reorder-point job, O12)."""
        ...


def fold(customer_id: str, events: Iterable[KeptEvent]) -> CustomerSnapshot | None:
    """A customer's state from its kept events, applied in version order.

    Every change of the customer's later life is followed (docs/customer-events.md): reassignment and
    region moves (C10), credit revisions and holds (C11), contract terms, changes and termination (C12),
    prepayment tiers (C8).
    """
    state: dict[str, Any] = {"customer_id": customer_id}
    contract_terms: int | None = None
    preferred_terms: int | None = None
    tiers: dict[int, Decimal] = {}
    securities: dict[str, Security] = {}
    for version, event in in_order(events):
        match event:
            case CustomerRegistered():
                state |= {
                    "kind": event.kind.value,
                    "region": event.region,
                    "salesperson_id": event.salesperson_id,
                }
                preferred_terms = days_in(event.preferred_payment_terms)
            case SalespersonReassigned(salesperson_id=salesperson_id):
                state["salesperson_id"] = salesperson_id
            case CustomerRegionMoved(region=region):
                state["region"] = region
            case (
                CreditInvestigated(credit_limit=limit)
                | CreditRevised(credit_limit=limit)
                | CreditRaiseApproved(credit_limit=limit)
            ):
                state["credit_limit"] = limit
            case CustomerOrdersHeld() | CustomerOrdersReleased():
                state["orders_held"] = isinstance(event, CustomerOrdersHeld)
            case ContractSigned():
                state |= {
                    "contract_number": event.contract_number,
                    "contract_valid_from": event.valid_from,
                    "contract_valid_to": event.valid_to,
                }
                contract_terms = _apply_terms(state, event.terms)  # version 1: no terms
            case ContractChangeApproved(terms=changed):
                contract_terms = _apply_terms(state, changed)
            case ContractTerminated():
                state |= {"contract_number": None, "contract_valid_from": None, "contract_valid_to": None}
                contract_terms = _apply_terms(state, None)
            case CapitalLimitSet(capital_limit=limit):
                state["capital_limit"] = limit
            case PrepaymentRecorded(discount_year=year, discount_pct=pct):
                tiers[year] = pct
            case SecurityRecorded():
                securities[event.security_id] = Security(
                    security_id=event.security_id,
                    security_kind=event.security_kind.value,
                    value=event.value,
                    holder=event.holder,
                    expires_on=event.expires_on,
                )
            case SecurityReleased(security_id=security_id):
                securities.pop(security_id, None)
        if event is not None and event.STATUS is not None:
            state["status"] = event.STATUS.value
        state["version"] = version
    if "kind" not in state:  # registration not seen yet: nobody to decide for
        return None
    # O11 (rev 2): the contract's payment terms, else the customer's preferred terms, else the default
    terms = contract_terms if contract_terms is not None else preferred_terms
    return CustomerSnapshot(
        **state,
        payment_terms_days=terms,
        discount_tiers=tuple(sorted(tiers.items())),
        securities=tuple(securities[k] for k in sorted(securities)),
    )


def security(row: Mapping[str, Any]) -> Security:
    """A security from the view's row of it."""
    return Security(
        security_id=row["security_id"],
        security_kind=row["security_kind"],
        value=Decimal(row["value"]),
        holder=row["holder"],
        expires_on=date.fromisoformat(row["expires_on"]),
    )


def _apply_terms(state: dict[str, Any], terms: ContractTerms | None) -> int | None:
    """C12: the contract's terms in force into ``state``; returns their payment terms (None: none agreed)."""
    scope = None if terms is None else terms["product_scope"]
    state["product_scope"] = None if scope is None else tuple(scope)
    state["annual_volume"] = None if terms is None else terms["annual_volume"]
    return None if terms is None else terms["payment_terms_days"]


def days_in(terms: object) -> int | None:
    """The days of payment terms written as text on the application form ("45 days", "月结60天"), if any."""
    found = TERMS_DAYS.search(terms) if isinstance(terms, str) else None
    return int(found.group(1)) if found else None


class InMemoryCustomerDirectory:
    """For unit tests: envelopes applied the same way as the PostgreSQL view."""

    def __init__(self) -> None:
        self.kept = KeptEvents()

    def apply(self, envelope: Envelope) -> None:
        self.kept.apply(envelope)

    def get(self, customer_id: str) -> CustomerSnapshot | None:
        return fold(customer_id, self.kept.of(customer_id))

    def branches(self) -> list[str]:
        return sorted(
            cid for cid in self.kept.customers() if (c := self.get(cid)) is not None and c.kind == "branch"
        )


class PostgresCustomerDirectory:
    """Reads ``orders.customer_view`` from the (synchronous) application's worker threads.

    Snapshots read are kept in memory: a command then decides without a round trip for its customer.
    Whoever changes a row forgets it here: this process's view writer directly (``forget``), another
    instance's through ``NOTIFY`` on ``CHANGED_CHANNEL`` (sent in the writer's transaction, so it is
    delivered on commit). While no listener is connected nothing is kept, so a missed notification can
    not leave a stale snapshot behind.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ConnectionPool(
            settings.postgres_dsn,
            connection_class=Connection[DictRow],
            min_size=1,
            max_size=2,  # most reads are answered from the snapshots kept
            kwargs={"row_factory": dict_row},
            open=False,  # opened on first use: printing the contract document needs no database
        )
        self._open_lock = threading.Lock()
        self._kept: dict[str, CustomerSnapshot] = {}
        self._generation = 0  # bumped by every forget: a read that raced one is not kept
        self._listening = False
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None

    def _connection(self) -> contextlib.AbstractContextManager[Connection[DictRow]]:
        with self._open_lock:
            if self.pool.closed:
                self.pool.open()
                self._listener = threading.Thread(
                    target=self._listen, name="customer-view-listener", daemon=True
                )
                self._listener.start()
        return self.pool.connection()

    def get(self, customer_id: str) -> CustomerSnapshot | None:
        if (kept := self._kept.get(customer_id)) is not None:
            return kept
        generation = self._generation
        with self._connection() as conn:
            try:
                row = conn.execute(
                    f'SELECT * FROM "{SCHEMA}".customer_view WHERE customer_id = %s', (customer_id,)
                ).fetchone()
            except Exception:  # the view is not built yet (or being rebuilt): nobody is known
                conn.rollback()
                return None
        if row is None:
            return None  # not kept: the registration may arrive any moment
        snapshot = snapshot_from_row(row)
        with self._open_lock:
            if self._listening and generation == self._generation:
                self._kept[customer_id] = snapshot
        return snapshot

    @property
    def listening(self) -> bool:
        """Whether other instances' changes reach this directory (only then is anything kept)."""
        return self._listening

    def forget(self, customer_ids: Iterable[str]) -> None:
        with self._open_lock:
            self._generation += 1
            for customer_id in customer_ids:
                self._kept.pop(customer_id, None)

    def _forget_all(self, listening: bool) -> None:
        with self._open_lock:
            self._generation += 1
            self._kept.clear()
            self._listening = listening

    def _listen(self) -> None:
        """Forget the customers other instances' view writers changed, until closed; reconnects."""
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.settings.postgres_dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANGED_CHANNEL}")
                    self._forget_all(listening=True)  # anything missed while not listening is gone
                    while not self._closed.is_set():
                        changed = [n.payload for n in conn.notifies(timeout=1.0)]
                        if changed:
                            self.forget(changed)
            except Exception as error:  # whatever broke the listener, nothing may be kept without it
                log.warning("customer view listener: %r; reconnecting", error)
            self._forget_all(listening=False)
            self._closed.wait(1.0)

    def branches(self) -> list[str]:
        with self._connection() as conn:
            try:
                rows = conn.execute(
                    f'SELECT customer_id FROM "{SCHEMA}".customer_view WHERE kind = %s ORDER BY customer_id',
                    ("branch",),
                ).fetchall()
            except Exception:  # the view is not built yet
                conn.rollback()
                return []
        return [row["customer_id"] for row in rows]

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.join(5)
        if not self.pool.closed:
            self.pool.close()


ContractHook = Callable[[str], Awaitable[None]]


class CustomerViewProjector:
    """Writes the view from customer envelopes; after commit, tells the application of signed or changed
    contracts (O4)."""

    def __init__(
        self,
        settings: Settings,
        on_contract_signed: ContractHook | None = None,
        on_changed: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_contract_signed = on_contract_signed
        self.on_changed = on_changed  # this process's directory forgets what it kept of these customers
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
        customer_events = [e for e in envelopes if e.aggregate_type == CustomerEvent.AGGREGATE]
        if customer_events:
            async with self.pool.acquire() as conn, conn.transaction():
                changed = await keep_events(conn, SCHEMA, customer_events)
                for customer_id in changed:
                    await self._refold(conn, customer_id)
                    await conn.execute("SELECT pg_notify($1, $2)", CHANGED_CHANNEL, customer_id)
            if self.on_changed is not None:
                self.on_changed(changed)
        if self.on_contract_signed is not None:
            # after commit, and again on redelivery: releasing is idempotent on the application side
            for customer_id in sorted(
                {e.aggregate_id for e in customer_events if isinstance(decode(e), CONTRACT_EVENTS)}
            ):
                await self.on_contract_signed(customer_id)

    async def _refold(self, conn: asyncpg.Connection, customer_id: str) -> None:
        await refold(conn, customer_id)


async def refold(conn: asyncpg.Connection, customer_id: str) -> None:
    """The customer's row folded again from all its kept events."""
    snapshot = fold(customer_id, await kept_events(conn, SCHEMA, customer_id))
    if snapshot is None:
        return
    row = snapshot_row(snapshot)
    columns = ", ".join(row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in row if name != "customer_id")
    await conn.execute(
        f'INSERT INTO "{SCHEMA}".customer_view ({columns}) VALUES ({values}) '
        f"ON CONFLICT (customer_id) DO UPDATE SET {updates}",
        *row.values(),
    )


def snapshot_row(snapshot: CustomerSnapshot) -> dict[str, Any]:
    """The view's row of a snapshot (its columns are the snapshot's fields)."""
    row = dataclasses.asdict(snapshot)
    row["product_scope"] = None if snapshot.product_scope is None else list(snapshot.product_scope)
    row["discount_tiers"] = json.dumps({str(year): str(pct) for year, pct in snapshot.discount_tiers})
    row["securities"] = json.dumps([security_json(held) for held in snapshot.securities])
    return row


def snapshot_from_row(row: Mapping[str, Any]) -> CustomerSnapshot:
    values = dict(row)
    scope, tiers = values["product_scope"], values["discount_tiers"]
    values["product_scope"] = None if scope is None else tuple(scope)
    if isinstance(tiers, str):
        tiers = json.loads(tiers)
    values["discount_tiers"] = tuple(sorted((int(year), Decimal(pct)) for year, pct in tiers.items()))
    held = values["securities"]
    values["securities"] = tuple(security(s) for s in (json.loads(held) if isinstance(held, str) else held))
    return CustomerSnapshot(**values)


async def ensure_tables(conn: asyncpg.Connection) -> None:
    await migrate(conn, SCHEMA, MIGRATIONS_TABLE, MIGRATIONS)


async def rebuild(conn: asyncpg.Connection) -> None:
    """Every customer's row folded again from the kept events (after ``fold`` learnt more of them)."""
    for record in await conn.fetch(f'SELECT DISTINCT customer_id FROM "{SCHEMA}".customer_events'):
        await refold(conn, record["customer_id"])


# The view's schema, step by step (append only). A change to ``fold`` appends a ``rebuild`` step: the
# rows kept are then folded again from their kept events.
MIGRATIONS: list[Step] = [
    [
        customer_events_table(SCHEMA),
        f'CREATE TABLE IF NOT EXISTS "{SCHEMA}".customer_view ('
        "customer_id text PRIMARY KEY, kind text NOT NULL, region text NOT NULL, "
        "salesperson_id text NOT NULL, "
        "status text NOT NULL, credit_limit numeric(16, 2) NOT NULL, contract_valid_from date, "
        "contract_valid_to date, capital_limit numeric(16, 2), version integer NOT NULL)",
    ],
    # O11 rev 2: the customer's own payment terms (empty: the default terms)
    [f'ALTER TABLE "{SCHEMA}".customer_view ADD COLUMN IF NOT EXISTS payment_terms_days integer'],
    # Issue 25 (C8, C10–C12, O4 rev 2): the columns of the customer's later life ...
    [f'ALTER TABLE "{SCHEMA}".customer_view ADD COLUMN IF NOT EXISTS {column}' for column in NEW_COLUMNS],
    # ... filled at once by folding every kept customer again; the fold-version table this replaces goes.
    rebuild,
    [f'DROP TABLE IF EXISTS "{SCHEMA}".customer_view_fold'],
]


async def drop_view(settings: Settings, nc: NATS) -> None:
    """Forget the view: drop its tables and the durable consumer, so the next run rebuilds it from the bus."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(
            f'DROP TABLE IF EXISTS "{SCHEMA}".customer_view, "{SCHEMA}".customer_events, '
            f'"{SCHEMA}".{MIGRATIONS_TABLE}'
        )
    finally:
        await conn.close()
    with contextlib.suppress(Exception):  # no consumer yet: nothing to forget
        await nc.jetstream().delete_consumer(
            stream_name(settings.namespace, SOURCE), f"{CONSUMER_NAME}-{SOURCE}"
        )


async def run_customer_view(
    nc: NATS,
    settings: Settings,
    stop: asyncio.Event,
    on_contract_signed: ContractHook | None = None,
    on_changed: Callable[[Iterable[str]], None] | None = None,
) -> None:
    """Keep the view up to date until ``stop``."""
    projector = CustomerViewProjector(settings, on_contract_signed, on_changed)
    await projector.open()
    consumer = DurableConsumer(nc, settings, CONSUMER_NAME, SOURCE, projector.handle)
    try:
        await consumer.run(stop)
    finally:
        await projector.close()
