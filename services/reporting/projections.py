"""Reporting's tables and how an event changes them (asyncpg, schema ``reporting``).

The event log (``event_log``) keeps every consumed envelope, append-only, keyed by (service, position):
a redelivered envelope is not inserted again, and only inserted ones are applied, so the effect is
exactly once. Projections are counters per (customer, period) and friends, plus a customer dimension
whose fields carry the version of the event that set them: applying events in any order gives the same
rows, which is what lets a rebuild (reading the log in its own order) equal the live tables row for row.

The projection tables are created per schema, so the same code fills the live tables (``reporting``),
a rebuild (``reporting_build``) and an as-of snapshot (``pg_temp``).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from services.reporting.periods import PeriodFinder, PeriodMode

if TYPE_CHECKING:  # only annotations: importing it would load pydantic into a rebuild
    from shared.contracts import Envelope

SCHEMA = "reporting"
BUILD_SCHEMA = "reporting_build"
SOURCES = ("customers", "orders", "complaints")
DISTRIBUTOR_KINDS = ("agent", "dealer")
# Consumers hold it shared for each batch; a rebuild's swap holds it exclusively (see rebuild.py).
LOG_LOCK = zlib.crc32(b"reporting:event_log")

LOG_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.event_log (
    service text NOT NULL,
    position bigint NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id text NOT NULL,
    event_type text NOT NULL,
    schema_version int NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    aggregate_version int NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor_id text,
    actor_role text,
    correlation_id text,
    causation_id text,
    data jsonb NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, position)
);
CREATE INDEX IF NOT EXISTS event_log_aggregate ON {SCHEMA}.event_log (aggregate_id);
CREATE INDEX IF NOT EXISTS event_log_customer ON {SCHEMA}.event_log ((data->>'customer_id'));
CREATE INDEX IF NOT EXISTS event_log_occurred ON {SCHEMA}.event_log (occurred_at);
CREATE TABLE IF NOT EXISTS {SCHEMA}.source_position (
    service text PRIMARY KEY,
    position bigint NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE SCHEMA IF NOT EXISTS {BUILD_SCHEMA};
"""
# Rebuilds, as-of reports and audit trails (R9, R10) read the log: nothing may update or delete its rows.
APPEND_ONLY_DDL = f"""
CREATE OR REPLACE FUNCTION {SCHEMA}.event_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'reporting.event_log is append-only'; END $$;
DROP TRIGGER IF EXISTS event_log_append_only ON {SCHEMA}.event_log;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.event_log
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.event_log_append_only();
"""

# Per (customer, period) counters; R2/R3/R4/R6/R8 are queries over them.
PERIOD_COUNTERS = (
    "orders",
    "ordered_amount",
    "shipped_amount",
    "paid_amount",
    "deposits",
    "holds_made",
    "holds_converted",
    "holds_expired",
    "quality_complaints",
    "service_complaints",
    "fines",
    "over_limit_approvals",
    "reorder_alerts",
    "match_rate_sum",
    "match_rate_count",
    "orders_cancelled",
)
STAFF_COUNTERS = ("orders", "amount", "complaints", "penalties", "fines", "dismissals")
PRODUCT_COUNTERS = ("quantity", "amount")

# Customer dimension: groups of fields, each with the aggregate version of the event that set it.
DIM_GROUPS: dict[str, tuple[str, ...]] = {
    "info": ("kind", "region", "salesperson_id", "company_name", "registered_at"),
    "status": ("status",),
    "approval": ("code", "approved_at"),
    "grade": ("grade",),
    "capital": ("capital_limit",),
    "credit": ("credit_limit", "credit_rating"),
}
DIM_TYPES = {
    "kind": "text",
    "region": "text",
    "salesperson_id": "text",
    "company_name": "text",
    "registered_at": "timestamptz",
    "status": "text",
    "code": "text",
    "approved_at": "timestamptz",
    "grade": "text",
    "capital_limit": "numeric(18,2)",
    "credit_limit": "numeric(18,2)",
    "credit_rating": "text",
}


def _counter_columns(names: Iterable[str]) -> str:
    return ",\n".join(f"    {name} numeric NOT NULL DEFAULT 0" for name in names)


def _dim_columns() -> str:
    cols = [f"    {col} {DIM_TYPES[col]}" for cols in DIM_GROUPS.values() for col in cols]
    cols += [f"    {group}_version bigint NOT NULL DEFAULT -1" for group in DIM_GROUPS]
    return ",\n".join(cols)


PROJECTIONS: dict[str, str] = {
    "customers": "CREATE TABLE {s}.customers (\n    customer_id text PRIMARY KEY,\n" + _dim_columns() + "\n)",
    "products": (
        "CREATE TABLE {s}.products (product_code text PRIMARY KEY, name text, "
        "list_price numeric(18,2), standard_cost numeric(18,2), version bigint NOT NULL)"
    ),
    "customer_period": (
        "CREATE TABLE {s}.customer_period (\n    customer_id text NOT NULL,\n    period text NOT NULL,\n"
        + _counter_columns(PERIOD_COUNTERS)
        + ",\n    PRIMARY KEY (period, customer_id)\n)"
    ),
    "customer_product_period": (
        "CREATE TABLE {s}.customer_product_period (\n    customer_id text NOT NULL,\n"
        "    period text NOT NULL,\n"
        "    product_code text NOT NULL,\n"
        + _counter_columns(PRODUCT_COUNTERS)
        + ",\n    PRIMARY KEY (period, customer_id, product_code)\n)"
    ),
    "staff_period": (
        "CREATE TABLE {s}.staff_period (\n    staff_id text NOT NULL,\n    period text NOT NULL,\n"
        + _counter_columns(STAFF_COUNTERS)
        + ",\n    PRIMARY KEY (period, staff_id)\n)"
    ),
}
COLUMNS: dict[str, list[str]] = {
    "customers": [
        "customer_id",
        *(c for cols in DIM_GROUPS.values() for c in cols),
        *(f"{g}_version" for g in DIM_GROUPS),
    ],
    "products": ["product_code", "name", "list_price", "standard_cost", "version"],
    "customer_period": ["customer_id", "period", *PERIOD_COUNTERS],
    "customer_product_period": ["customer_id", "period", "product_code", *PRODUCT_COUNTERS],
    "staff_period": ["staff_id", "period", *STAFF_COUNTERS],
}
EXTRA_INDEXES = {"customer_period": ["CREATE INDEX ON {s}.customer_period (customer_id, period)"]}


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb as Python objects (orjson), on every connection of a pool."""
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


async def ensure_schema(conn: asyncpg.Connection) -> list[str]:
    """Create the log and the live projection tables if missing (idempotent). Returns the projections
    whose live table has other columns than this code writes (made by an older version): they must be
    rebuilt from the log before consuming (``main.open_pool`` does it)."""
    stale = []
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({LOG_LOCK} + 1)")  # two processes starting at once
        await conn.execute(LOG_DDL)
        await conn.execute(APPEND_ONLY_DDL)
        for name in PROJECTIONS:
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.{name}")
            if exists is None:
                await create_projection(conn, SCHEMA, name)
            elif await table_columns(conn, SCHEMA, name) != COLUMNS[name]:
                stale.append(name)
    return stale


async def table_columns(conn: asyncpg.Connection, schema: str, name: str) -> list[str]:
    return [
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            f"{schema}.{name}",
        )
    ]


REBUILDS = "_rebuilds"  # a reserved source_position row: each swap counts one, so the version moves


async def projections_version(conn: asyncpg.Connection) -> int:
    """A number that grows with every committed change of the projections: each batch adds its event
    count to ``source_position.events`` in its own transaction, and each rebuild swap adds one. Two
    snapshots with the same number therefore see the same projections (a report cache key)."""
    return int(await conn.fetchval(f"SELECT coalesce(sum(events), 0) FROM {SCHEMA}.source_position"))


async def bump_version(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.source_position (service, position, events) VALUES ($1, 0, 1) "
        "ON CONFLICT (service) DO UPDATE SET events = source_position.events + 1, updated_at = now()",
        REBUILDS,
    )


async def analyze(conn: asyncpg.Connection, schema: str = SCHEMA) -> None:
    """Refresh the planner's statistics of the projection tables."""
    await conn.execute("ANALYZE " + ", ".join(f"{schema}.{name}" for name in PROJECTIONS))


async def create_projection(
    conn: asyncpg.Connection, schema: str, name: str, temporary: bool = False
) -> None:
    ddl = PROJECTIONS[name].format(s=schema)
    if temporary:
        ddl = ddl.replace(f"CREATE TABLE {schema}.", "CREATE TEMP TABLE ", 1) + " ON COMMIT DROP"
    await conn.execute(ddl)
    target = "" if temporary else f"{schema}."
    for index in EXTRA_INDEXES.get(name, []):
        await conn.execute(index.replace("{s}.", target))


# ---------------------------------------------------------------- events as reporting sees them


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    service: str
    position: int
    event_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    data: dict[str, Any]

    def as_row(self) -> tuple[Any, ...]:
        """As ``Projector.apply_rows`` reads the log's ``LOGGED_COLUMNS`` (no sequence yet: 0)."""
        return (
            0,
            self.service,
            self.position,
            self.event_type,
            self.aggregate_id,
            self.aggregate_version,
            self.occurred_at,
            self.data,
        )


def from_envelope(envelope: Envelope) -> LoggedEvent:
    return LoggedEvent(
        envelope.service,
        envelope.position,
        envelope.event_type,
        envelope.aggregate_id,
        envelope.aggregate_version,
        envelope.occurred_at,
        envelope.data,
    )


LOG_COLUMNS = (
    "service, position, event_id, event_type, schema_version, aggregate_type, aggregate_id, "
    "aggregate_version, "
    "occurred_at, actor_id, actor_role, correlation_id, causation_id, data"
)
INSERT_LOG = f"""
INSERT INTO {SCHEMA}.event_log ({LOG_COLUMNS})
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
                     $8::int[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[],
                     $14::jsonb[])
ON CONFLICT (service, position) DO NOTHING
RETURNING service, position
"""


async def record(conn: asyncpg.Connection, envelopes: Sequence[Envelope], mode: PeriodMode) -> int:
    """Log a batch and apply the newly logged envelopes; the caller holds the transaction. Returns
    how many were new (a redelivered envelope is already in the log and changes nothing)."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_LOCK)
    columns: list[list[Any]] = [[] for _ in range(14)]
    for e in envelopes:
        values = (
            e.service,
            e.position,
            e.event_id,
            e.event_type,
            e.schema_version,
            e.aggregate_type,
            e.aggregate_id,
            e.aggregate_version,
            e.occurred_at,
            e.actor.id if e.actor else None,
            e.actor.role.value if e.actor else None,
            e.correlation_id,
            e.causation_id,
            e.data,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    inserted = {(r["service"], r["position"]) for r in await conn.fetch(INSERT_LOG, *columns)}
    fresh: list[LoggedEvent] = []
    for envelope in envelopes:
        key = (envelope.service, envelope.position)
        if key in inserted:
            inserted.discard(key)  # the same envelope twice in one batch applies once
            fresh.append(from_envelope(envelope))
    if fresh:
        projector = Projector(mode)
        projector.apply_all(fresh)
        await projector.flush(conn, SCHEMA)
        highest: dict[str, tuple[int, int]] = {}
        for event in fresh:
            top, count = highest.get(event.service, (0, 0))
            highest[event.service] = (max(top, event.position), count + 1)
        for service, (top, count) in highest.items():
            await conn.execute(
                f"INSERT INTO {SCHEMA}.source_position (service, position, events) VALUES ($1, $2, $3) "
                "ON CONFLICT (service) DO UPDATE SET position = GREATEST(source_position.position, $2), "
                "events = source_position.events + $3, updated_at = now()",
                service,
                top,
                count,
            )
    return len(fresh)


# ---------------------------------------------------------------- applying events (in memory, then flushed)

ZERO, ONE = Decimal(0), Decimal(1)  # a count adds ONE: Decimal + Decimal is quicker than Decimal + int


@functools.lru_cache(maxsize=4096)
def _decimal(value: str | int) -> Decimal:
    """Cached: a replay parses the same few amounts ("100.00", quantities) millions of times."""
    try:
        return Decimal(value)
    except InvalidOperation:
        return ZERO


def money(value: Any) -> Decimal:
    kind = value.__class__
    if kind is str or kind is int:  # JSON's money strings and quantities (an int's Decimal is its str's)
        return _decimal(value)
    try:
        return Decimal(str(value)) if value is not None else ZERO
    except InvalidOperation:
        return ZERO


PERIOD_INDEX = {name: i for i, name in enumerate(PERIOD_COUNTERS)}
STAFF_INDEX = {name: i for i, name in enumerate(STAFF_COUNTERS)}
ORDERS, ORDERED = PERIOD_INDEX["orders"], PERIOD_INDEX["ordered_amount"]
# Events that add to one counter of their (customer, period): 1, or the money in a field of their data.
COUNTED: dict[tuple[str, str], tuple[str, str | None]] = {
    ("orders", "OrderCancelled"): ("orders_cancelled", None),
    ("orders", "OrderShipped"): ("shipped_amount", "amount"),
    ("orders", "PaymentReceived"): ("paid_amount", "amount"),
    ("orders", "OverLimitApproved"): ("over_limit_approvals", None),
    ("orders", "OrderReserved"): ("holds_made", None),
    ("orders", "DepositReceived"): ("deposits", "amount"),
    ("orders", "ReservationConverted"): ("holds_converted", None),
    ("orders", "ReservationExpired"): ("holds_expired", None),
    ("orders", "ReorderAlertRaised"): ("reorder_alerts", None),
}
# Customer events that set one group of the dimension to fixed values.
STATUS_SET: dict[str, tuple[str, tuple[Any, ...]]] = {
    "CustomerRejected": ("status", ("rejected",)),
    "CustomerSuspended": ("status", ("suspended",)),
    "CustomerReinstated": ("status", ("approved",)),
}
# Columns of the log that ``Projector.apply_rows`` reads, in its order.
LOGGED_COLUMNS = "seq, service, position, event_type, aggregate_id, aggregate_version, occurred_at, data"
Handler = Callable[[str, int, int, datetime, dict[str, Any]], None]


@dataclass
class Projector:
    """Aggregates a run of events in memory; ``flush`` adds them to a schema's tables.

    Each (service, event type) has a handler taking (aggregate id, version, position, occurred at, data);
    a replay runs millions of events through them, so they avoid per-event work that can be shared."""

    mode: PeriodMode
    only: frozenset[str] | None = None
    periods: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    products_sold: dict[tuple[str, str, str], list[Decimal]] = field(default_factory=dict)
    staff: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    dims: dict[str, dict[str, tuple[int, tuple[Any, ...]]]] = field(default_factory=dict)
    products: dict[str, tuple[int, tuple[Any, ...]]] = field(default_factory=dict)
    applied: int = 0
    handlers: dict[tuple[str, str], Handler] = field(init=False, repr=False)
    period: PeriodFinder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.period = PeriodFinder(self.mode)
        self.handlers = {
            ("customers", "CustomerRegistered"): self._registered,
            ("customers", "CreditInvestigated"): self._credit,
            ("customers", "CustomerApproved"): self._approved,
            ("customers", "CustomerGraded"): self._graded,
            ("customers", "CapitalLimitSet"): self._capital,
            ("orders", "ProductListed"): self._product,
            ("orders", "ProductRelisted"): self._product,
            ("orders", "OrderPlaced"): self._order_placed,
            ("orders", "RequestListMatched"): self._matched,
            ("complaints", "ComplaintLogged"): self._complaint,
            ("complaints", "PenaltyIssued"): self._penalty,
            ("complaints", "DismissalRecommended"): self._dismissal,
        }
        for event_type, (group, values) in STATUS_SET.items():
            self.handlers["customers", event_type] = functools.partial(self._set, group, values)
        for key, (counter, amount_field) in COUNTED.items():
            self.handlers[key] = functools.partial(self._counted, PERIOD_INDEX[counter], amount_field)

    def apply_all(self, events: Iterable[LoggedEvent]) -> None:
        self.apply_rows([event.as_row() for event in events])

    def apply_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Apply rows of the log's ``LOGGED_COLUMNS`` (as a rebuild reads them; the sequence is not used)."""
        handlers = self.handlers
        for _seq, service, position, event_type, aggregate_id, version, at, data in rows:
            handler = handlers.get((service, event_type))
            if handler is not None:
                handler(aggregate_id, version, position, at, data)
        self.applied += len(rows)

    # ------------------------------------------------ what the handlers change

    @staticmethod
    def _row(
        table: dict[tuple[str, str], list[Decimal]], owner: Any, period: str, width: int
    ) -> list[Decimal] | None:
        """The counters of (owner, period) in ``table``, None without an owner."""
        if not owner:
            return None
        key = (str(owner), period)
        row = table.get(key)
        if row is None:
            row = table[key] = [ZERO] * width
        return row

    def _add(self, customer_id: Any, period: str, index: int, delta: Decimal) -> None:
        row = self._row(self.periods, customer_id, period, len(PERIOD_COUNTERS))
        if row is not None:
            row[index] += delta

    def _staff(self, staff_id: Any, period: str, index: int, delta: Decimal) -> None:
        row = self._row(self.staff, staff_id, period, len(STAFF_COUNTERS))
        if row is not None:
            row[index] += delta

    def _dim(self, customer_id: Any, group: str, version: int, values: tuple[Any, ...]) -> None:
        if not customer_id:
            return
        groups = self.dims.setdefault(str(customer_id), {})
        current = groups.get(group)
        if current is None or version > current[0]:  # a tie keeps what came first, as the SQL does
            groups[group] = (version, values)

    # ------------------------------------------------ customers: the dimension, by the customer's version

    def _registered(self, cid: str, version: int, position: int, at: datetime, d: dict[str, Any]) -> None:
        info = (d.get("kind"), d.get("region"), d.get("salesperson_id"), d.get("company_name"), at)
        self._dim(cid, "info", version, info)
        self._dim(cid, "status", version, ("prospect",))

    def _credit(self, cid: str, version: int, position: int, at: datetime, d: dict[str, Any]) -> None:
        self._dim(cid, "credit", version, (money(d.get("credit_limit")), d.get("rating")))

    def _approved(self, cid: str, version: int, position: int, at: datetime, d: dict[str, Any]) -> None:
        self._dim(cid, "status", version, ("approved",))
        self._dim(cid, "approval", version, (d.get("code"), at))

    def _graded(self, cid: str, version: int, position: int, at: datetime, d: dict[str, Any]) -> None:
        self._dim(cid, "grade", version, (d.get("grade"),))

    def _capital(self, cid: str, version: int, position: int, at: datetime, d: dict[str, Any]) -> None:
        self._dim(cid, "capital", version, (money(d.get("capital_limit")),))

    def _set(
        self,
        group: str,
        values: tuple[Any, ...],
        cid: str,
        version: int,
        position: int,
        at: datetime,
        d: dict[str, Any],
    ) -> None:
        self._dim(cid, group, version, values)

    # ------------------------------------------------ orders and complaints: counters per period

    def _product(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        code = d.get("product_code")
        if code:
            current = self.products.get(code)
            if current is None or position > current[0]:
                values = (d.get("name"), money(d.get("list_price")), money(d.get("standard_cost")))
                self.products[code] = (position, values)

    def _order_placed(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        p = self.period(at)
        cid = str(d.get("customer_id") or "")
        amount = money(d.get("total_amount"))
        row = self._row(self.periods, cid, p, len(PERIOD_COUNTERS))
        if row is not None:
            row[ORDERS] += ONE
            row[ORDERED] += amount
        salesperson = d.get("salesperson_id")
        staff = self._row(self.staff, salesperson, p, len(STAFF_COUNTERS))
        if staff is not None:
            staff[STAFF_INDEX["orders"]] += ONE
            staff[STAFF_INDEX["amount"]] += amount
        if not cid:
            return
        # Version 0: a hint until the customer's own registration (version >= 1) arrives. What _dim
        # would decide, checked before building the hint: most orders come from a known customer.
        groups = self.dims.get(cid)
        info = groups.get("info") if groups else None
        if info is None or info[0] < 0:
            self._dim(cid, "info", 0, (d.get("customer_kind"), d.get("region"), salesperson, None, None))
        for line in d.get("lines") or []:
            code = line.get("product_code")
            if code:
                key = (cid, p, code)
                row = self.products_sold.get(key)
                if row is None:
                    row = self.products_sold[key] = [ZERO, ZERO]
                row[0] += money(line.get("quantity"))
                row[1] += money(line.get("amount"))

    def _counted(
        self,
        index: int,
        amount_field: str | None,
        aggregate_id: str,
        version: int,
        position: int,
        at: datetime,
        d: dict[str, Any],
    ) -> None:
        delta = ONE if amount_field is None else money(d.get(amount_field))
        self._add(str(d.get("customer_id") or ""), self.period(at), index, delta)

    def _matched(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        p, cid = self.period(at), str(d.get("customer_id") or "")
        self._add(cid, p, PERIOD_INDEX["match_rate_sum"], money(d.get("match_rate")))
        self._add(cid, p, PERIOD_INDEX["match_rate_count"], ONE)

    def _complaint(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        p = self.period(at)
        kind = "quality_complaints" if d.get("complaint_type") == "quality" else "service_complaints"
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX[kind], ONE)
        self._staff(d.get("staff_id"), p, STAFF_INDEX["complaints"], ONE)

    def _penalty(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        p, amount, staff_id = self.period(at), money(d.get("amount")), d.get("staff_id")
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX["fines"], amount)
        self._staff(staff_id, p, STAFF_INDEX["penalties"], ONE)
        self._staff(staff_id, p, STAFF_INDEX["fines"], amount)

    def _dismissal(
        self, aggregate_id: str, version: int, position: int, at: datetime, d: dict[str, Any]
    ) -> None:
        self._staff(d.get("staff_id"), self.period(at), STAFF_INDEX["dismissals"], ONE)

    def _wants(self, name: str) -> bool:
        return self.only is None or name in self.only

    async def flush(self, conn: asyncpg.Connection, schema: str) -> None:
        """Add what was aggregated to ``schema``'s tables (the caller holds the transaction), then reset.
        Tables in a fixed order and rows sorted by key: concurrent batches (one consumer per source) lock
        rows in the same order, so they wait for each other instead of deadlocking."""
        if self.periods and self._wants("customer_period"):
            await _add_counters(
                conn,
                f"{schema}.customer_period",
                ("customer_id", "period"),
                PERIOD_COUNTERS,
                [(*k, *v) for k, v in sorted(self.periods.items())],
            )
        if self.products_sold and self._wants("customer_product_period"):
            await _add_counters(
                conn,
                f"{schema}.customer_product_period",
                ("customer_id", "period", "product_code"),
                PRODUCT_COUNTERS,
                [(*k, *v) for k, v in sorted(self.products_sold.items())],
            )
        if self.staff and self._wants("staff_period"):
            await _add_counters(
                conn,
                f"{schema}.staff_period",
                ("staff_id", "period"),
                STAFF_COUNTERS,
                [(*k, *v) for k, v in sorted(self.staff.items())],
            )
        if self.dims and self._wants("customers"):
            await _upsert_dims(conn, schema, self.dims)
        if self.products and self._wants("products"):
            await _insert(
                conn,
                f"{schema}.products AS p",
                {
                    "product_code": "text",
                    "name": "text",
                    "list_price": "numeric(18,2)",
                    "standard_cost": "numeric(18,2)",
                    "version": "bigint",
                },
                [(code, *values, version) for code, (version, values) in sorted(self.products.items())],
                "ON CONFLICT (product_code) DO UPDATE SET "
                "name = EXCLUDED.name, list_price = EXCLUDED.list_price, "
                "standard_cost = EXCLUDED.standard_cost, "
                "version = EXCLUDED.version WHERE EXCLUDED.version > p.version",
            )
        self.periods, self.products_sold, self.staff, self.dims, self.products = {}, {}, {}, {}, {}


async def _insert(
    conn: asyncpg.Connection,
    target: str,
    columns: dict[str, str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
) -> None:
    """Insert ``rows`` (of ``columns``: name -> type) with ONE statement, as arrays (far cheaper than a
    statement per row); unnest keeps their order, so rows are locked in that order. Each key once:
    an upsert may not touch a row twice."""
    arrays: list[str] = []
    values: list[str | list[Any]] = []
    for i, (kind, column) in enumerate(zip(columns.values(), zip(*rows, strict=True), strict=True), 1):
        if kind.startswith("numeric"):
            # As the array's text: PostgreSQL parses it several times quicker than asyncpg encodes Decimals.
            arrays.append(f"${i}::text::{kind}[]")
            values.append("{" + ",".join("NULL" if v is None else str(v) for v in column) + "}")
        else:
            arrays.append(f"${i}::{kind}[]")
            values.append(list(column))
    names = ", ".join(columns)
    await conn.execute(
        f"INSERT INTO {target} ({names}) SELECT * FROM unnest({', '.join(arrays)}) {on_conflict}", *values
    )


async def _add_counters(
    conn: asyncpg.Connection,
    table: str,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in counters)
    await _insert(
        conn,
        f"{table} AS t",
        {**dict.fromkeys(keys, "text"), **dict.fromkeys(counters, "numeric")},
        rows,
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
    )


DIM_COLUMNS = [col for cols in DIM_GROUPS.values() for col in cols]


async def _upsert_dims(
    conn: asyncpg.Connection, schema: str, dims: dict[str, dict[str, tuple[int, tuple[Any, ...]]]]
) -> None:
    columns = {
        "customer_id": "text",
        **{col: DIM_TYPES[col] for col in DIM_COLUMNS},
        **{f"{g}_version": "bigint" for g in DIM_GROUPS},
    }
    updates = []
    for group, cols in DIM_GROUPS.items():
        newer = f"EXCLUDED.{group}_version > c.{group}_version"
        updates += [f"{col} = CASE WHEN {newer} THEN EXCLUDED.{col} ELSE c.{col} END" for col in cols]
        updates.append(f"{group}_version = GREATEST(c.{group}_version, EXCLUDED.{group}_version)")
    rows = []
    for customer_id, groups in sorted(dims.items()):
        values: list[Any] = [customer_id]
        group_versions: list[int] = []
        for group, cols in DIM_GROUPS.items():
            version, group_values = groups.get(group, (-1, (None,) * len(cols)))
            values += list(group_values)
            group_versions.append(version)
        rows.append((*values, *group_versions))
    await _insert(
        conn,
        f"{schema}.customers AS c",
        columns,
        rows,
        f"ON CONFLICT (customer_id) DO UPDATE SET {', '.join(updates)}",
    )
