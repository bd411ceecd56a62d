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

from services.reporting.periods import PeriodFinder, PeriodMode, micros, moment

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
        await conn.execute(batch_function_ddl())
        for name in PROJECTIONS:
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.{name}")
            if exists is None:
                await create_projection(conn, SCHEMA, name)
            elif await table_columns(conn, SCHEMA, name) != list(UPSERTS[name].columns):
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
            micros(self.occurred_at),
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
# Columns of the log that ``Projector.apply_rows`` reads, in its order. The moment comes as microseconds
# since 1970 (``periods.micros``): decoding a timestamptz into a datetime was a fifth of what reading an
# event cost a rebuild.
LOGGED_COLUMNS = (
    "seq, service, position, event_type, aggregate_id, aggregate_version, "
    "(extract(epoch FROM occurred_at) * 1000000)::int8 AS occurred_us, data"
)
Handler = Callable[[str, int, int, int, dict[str, Any]], None]


@dataclass
class Projector:
    """Aggregates a run of events in memory; ``flush`` adds them to a schema's tables.

    Each (service, event type) has a handler taking (aggregate id, version, position, occurred at in
    microseconds since 1970, data); a replay runs millions of events through them, so they avoid per-event
    work that can be shared."""

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

    def _registered(self, cid: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        info = (d.get("kind"), d.get("region"), d.get("salesperson_id"), d.get("company_name"), moment(at))
        self._dim(cid, "info", version, info)
        self._dim(cid, "status", version, ("prospect",))

    def _credit(self, cid: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._dim(cid, "credit", version, (money(d.get("credit_limit")), d.get("rating")))

    def _approved(self, cid: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._dim(cid, "status", version, ("approved",))
        self._dim(cid, "approval", version, (d.get("code"), moment(at)))

    def _graded(self, cid: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._dim(cid, "grade", version, (d.get("grade"),))

    def _capital(self, cid: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._dim(cid, "capital", version, (money(d.get("capital_limit")),))

    def _set(
        self,
        group: str,
        values: tuple[Any, ...],
        cid: str,
        version: int,
        position: int,
        at: int,
        d: dict[str, Any],
    ) -> None:
        self._dim(cid, group, version, values)

    # ------------------------------------------------ orders and complaints: counters per period

    def _product(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        code = d.get("product_code")
        if code:
            current = self.products.get(code)
            if current is None or position > current[0]:
                values = (d.get("name"), money(d.get("list_price")), money(d.get("standard_cost")))
                self.products[code] = (position, values)

    def _order_placed(
        self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]
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
        at: int,
        d: dict[str, Any],
    ) -> None:
        delta = ONE if amount_field is None else money(d.get(amount_field))
        self._add(str(d.get("customer_id") or ""), self.period(at), index, delta)

    def _matched(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p, cid = self.period(at), str(d.get("customer_id") or "")
        self._add(cid, p, PERIOD_INDEX["match_rate_sum"], money(d.get("match_rate")))
        self._add(cid, p, PERIOD_INDEX["match_rate_count"], ONE)

    def _complaint(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p = self.period(at)
        kind = "quality_complaints" if d.get("complaint_type") == "quality" else "service_complaints"
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX[kind], ONE)
        self._staff(d.get("staff_id"), p, STAFF_INDEX["complaints"], ONE)

    def _penalty(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p, amount, staff_id = self.period(at), money(d.get("amount")), d.get("staff_id")
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX["fines"], amount)
        self._staff(staff_id, p, STAFF_INDEX["penalties"], ONE)
        self._staff(staff_id, p, STAFF_INDEX["fines"], amount)

    def _dismissal(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._staff(d.get("staff_id"), self.period(at), STAFF_INDEX["dismissals"], ONE)

    def _wants(self, name: str) -> bool:
        return self.only is None or name in self.only

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        """What was aggregated for projection ``name``, as rows of its ``UPSERTS`` entry, sorted by key."""
        if not self._wants(name):
            return []
        if name == "customer_period":
            return [(*k, *v) for k, v in sorted(self.periods.items())]
        if name == "customer_product_period":
            return [(*k, *v) for k, v in sorted(self.products_sold.items())]
        if name == "staff_period":
            return [(*k, *v) for k, v in sorted(self.staff.items())]
        if name == "products":
            return [(code, *values, version) for code, (version, values) in sorted(self.products.items())]
        rows = []
        for customer_id, groups in sorted(self.dims.items()):
            values: list[Any] = [customer_id]
            group_versions: list[int] = []
            for group, cols in DIM_GROUPS.items():
                version, group_values = groups.get(group, (-1, (None,) * len(cols)))
                values += list(group_values)
                group_versions.append(version)
            rows.append((*values, *group_versions))
        return rows

    async def flush(self, conn: asyncpg.Connection, schema: str) -> None:
        """Add what was aggregated to ``schema``'s tables (the caller holds the transaction), then reset."""
        await add_upserts(conn, schema, self.upserts())

    def upserts(self) -> list[tuple[str, list[Any]]]:
        """What was aggregated, as (projection, arguments of its upsert) for those with rows; then reset.
        Tables in a fixed order and rows sorted by key: concurrent batches (one consumer per source) lock
        rows in the same order, so they wait for each other instead of deadlocking."""
        found = [(name, upsert.arrays(rows)) for name, upsert in UPSERTS.items() if (rows := self.rows(name))]
        self.periods, self.products_sold, self.staff, self.dims, self.products = {}, {}, {}, {}, {}
        return found


async def add_upserts(conn: asyncpg.Connection, schema: str, upserts: list[tuple[str, list[Any]]]) -> None:
    """Run ``Projector.upserts`` on ``schema``'s tables; upserts of one run of events after those of the runs
    before it give what one projector of them all would."""
    for name, arguments in upserts:
        await conn.execute(UPSERTS[name].sql(schema), *arguments)


@dataclass(frozen=True)
class BulkInsert:
    """Many rows into one table with ONE statement, as one array per column (far cheaper than a statement
    per row); unnest keeps their order, so rows are locked in that order. An upsert may not touch a row
    twice: each key once."""

    table: str
    alias: str
    columns: dict[str, str]  # name -> type
    on_conflict: str = ""

    def sql(self, schema: str, first: int = 1) -> str:
        """The statement, its arrays numbered from ``$first``. Numeric arrays go as their text: PostgreSQL
        parses it several times quicker than asyncpg encodes Decimals."""
        arrays = [
            f"${i}::text::{kind}[]" if kind.startswith("numeric") else f"${i}::{kind}[]"
            for i, kind in enumerate(self.columns.values(), first)
        ]
        return (
            f"INSERT INTO {schema}.{self.table} AS {self.alias} ({', '.join(self.columns)}) "
            f"SELECT * FROM unnest({', '.join(arrays)}) {self.on_conflict}"
        )

    def parameter_types(self) -> list[str]:
        return ["text" if kind.startswith("numeric") else f"{kind}[]" for kind in self.columns.values()]

    def arrays(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        columns: Iterable[tuple[Any, ...]] = zip(*rows, strict=True) if rows else [()] * len(self.columns)
        return [
            "{" + ",".join("NULL" if v is None else str(v) for v in column) + "}"
            if kind.startswith("numeric")
            else list(column)
            for kind, column in zip(self.columns.values(), columns, strict=True)
        ]


def _counters(table: str, keys: tuple[str, ...], counters: tuple[str, ...]) -> BulkInsert:
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in counters)
    return BulkInsert(
        table,
        "t",
        {**dict.fromkeys(keys, "text"), **dict.fromkeys(counters, "numeric")},
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
    )


def _dimension() -> BulkInsert:
    updates, newer_groups = [], []
    for group, cols in DIM_GROUPS.items():
        newer = f"EXCLUDED.{group}_version > c.{group}_version"
        newer_groups.append(newer)
        updates += [f"{col} = CASE WHEN {newer} THEN EXCLUDED.{col} ELSE c.{col} END" for col in cols]
        updates.append(f"{group}_version = GREATEST(c.{group}_version, EXCLUDED.{group}_version)")
    return BulkInsert(
        "customers",
        "c",
        {
            "customer_id": "text",
            **{col: DIM_TYPES[col] for cols in DIM_GROUPS.values() for col in cols},
            **{f"{g}_version": "bigint" for g in DIM_GROUPS},
        },
        # Only a row that some group makes newer is written: an order's hint (version 0) for a known
        # customer would write an identical row version.
        f"ON CONFLICT (customer_id) DO UPDATE SET {', '.join(updates)} WHERE {' OR '.join(newer_groups)}",
    )


# How each projection takes what a Projector aggregated, in the order every writer locks them.
UPSERTS: dict[str, BulkInsert] = {
    "customer_period": _counters("customer_period", ("customer_id", "period"), PERIOD_COUNTERS),
    "customer_product_period": _counters(
        "customer_product_period", ("customer_id", "period", "product_code"), PRODUCT_COUNTERS
    ),
    "staff_period": _counters("staff_period", ("staff_id", "period"), STAFF_COUNTERS),
    "customers": _dimension(),
    "products": BulkInsert(
        "products",
        "p",
        {
            "product_code": "text",
            "name": "text",
            "list_price": "numeric(18,2)",
            "standard_cost": "numeric(18,2)",
            "version": "bigint",
        },
        "ON CONFLICT (product_code) DO UPDATE SET "
        "name = EXCLUDED.name, list_price = EXCLUDED.list_price, standard_cost = EXCLUDED.standard_cost, "
        "version = EXCLUDED.version WHERE EXCLUDED.version > p.version",
    ),
}


# The log's columns; an envelope logged before (a redelivery) fails this insert.
LOG_INSERT = BulkInsert(
    "event_log",
    "l",
    {
        "service": "text",
        "position": "bigint",
        "event_id": "text",
        "event_type": "text",
        "schema_version": "int",
        "aggregate_type": "text",
        "aggregate_id": "text",
        "aggregate_version": "int",
        "occurred_at": "timestamptz",
        "actor_id": "text",
        "actor_role": "text",
        "correlation_id": "text",
        "causation_id": "text",
        "data": "jsonb",
    },
)
INSERT_NEW_TO_LOG = (
    LOG_INSERT.sql(SCHEMA) + " ON CONFLICT (service, position) DO NOTHING RETURNING service, position"
)
POSITIONS = BulkInsert(
    "source_position",
    "s",
    {"service": "text", "position": "bigint", "events": "bigint"},
    "ON CONFLICT (service) DO UPDATE SET position = GREATEST(s.position, EXCLUDED.position), "
    "events = s.events + EXCLUDED.events, updated_at = now()",
)
# The live batch as one statement: the log, every projection, the positions (``batch_function_ddl``).
BATCH_FUNCTION = f"{SCHEMA}.apply_batch"
BATCH_PARTS = (LOG_INSERT, *UPSERTS.values(), POSITIONS)
BATCH_TYPES = [kind for part in BATCH_PARTS for kind in part.parameter_types()]
CALL_BATCH = f"SELECT {BATCH_FUNCTION}({', '.join(f'${i}::{t}' for i, t in enumerate(BATCH_TYPES, 1))})"


def batch_function_ddl() -> str:
    """plpgsql runs the statements in order: the shared log lock is taken before any table is touched (a
    rebuild's swap holds it exclusively), and a failing one undoes the call."""
    statements, first = [], 1
    for part in BATCH_PARTS:
        statements.append(part.sql(SCHEMA, first) + ";")
        first += len(part.columns)
    return (
        f"CREATE OR REPLACE FUNCTION {BATCH_FUNCTION}({', '.join(BATCH_TYPES)}) RETURNS void "
        f"LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared({LOG_LOCK}); "
        + " ".join(statements)
        + " END $$"
    )


def _log_rows(envelopes: Iterable[Envelope]) -> list[tuple[Any, ...]]:
    return [
        (
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
        for e in envelopes
    ]


def _position_rows(events: Iterable[Envelope | LoggedEvent]) -> list[tuple[str, int, int]]:
    """Per source service: the highest position and how many events."""
    highest: dict[str, tuple[int, int]] = {}
    for event in events:
        top, count = highest.get(event.service, (0, 0))
        highest[event.service] = (max(top, event.position), count + 1)
    return [(service, top, count) for service, (top, count) in sorted(highest.items())]


async def record(conn: asyncpg.Connection, envelopes: Sequence[Envelope], mode: PeriodMode) -> int:
    """Log a batch and apply the envelopes not logged before, all or nothing, outside a transaction.
    Returns how many were new (a redelivered envelope is already in the log and changes nothing).

    Usually all are new: then the batch is ONE statement (``apply_batch``), one round trip where a
    transaction took eight, each waiting for a CPU on a busy machine. When some were logged before (a
    redelivery after a crash or a timeout), that statement fails on the log's key and changes nothing;
    a transaction then logs the batch, learns which envelopes are new and applies only those."""
    keys: set[tuple[str, int]] = set()
    unique = []
    for envelope in envelopes:  # the same envelope twice in one batch applies once
        if (envelope.service, envelope.position) not in keys:
            keys.add((envelope.service, envelope.position))
            unique.append(envelope)
    projector = Projector(mode)
    projector.apply_all(from_envelope(e) for e in unique)
    arguments = LOG_INSERT.arrays(_log_rows(unique))
    for name, upsert in UPSERTS.items():
        arguments += upsert.arrays(projector.rows(name))
    arguments += POSITIONS.arrays(_position_rows(unique))
    try:
        await conn.execute(CALL_BATCH, *arguments)
        return len(unique)
    except asyncpg.UniqueViolationError as error:
        if error.table_name != "event_log":
            raise
    async with conn.transaction():
        return await _record_new(conn, unique, mode)


async def _record_new(conn: asyncpg.Connection, envelopes: Sequence[Envelope], mode: PeriodMode) -> int:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_LOCK)
    logged = await conn.fetch(INSERT_NEW_TO_LOG, *LOG_INSERT.arrays(_log_rows(envelopes)))
    inserted = {(r["service"], r["position"]) for r in logged}
    fresh = [from_envelope(e) for e in envelopes if (e.service, e.position) in inserted]
    if fresh:
        projector = Projector(mode)
        projector.apply_all(fresh)
        await projector.flush(conn, SCHEMA)
        await conn.execute(POSITIONS.sql(SCHEMA), *POSITIONS.arrays(_position_rows(fresh)))
    return len(fresh)
