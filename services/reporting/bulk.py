"""How what a ``Projector`` aggregated is written: one statement per projection (arrays of rows, upserts
that add counters or keep the newest version), and the live batch as one plpgsql call."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.reporting.field_tables import FIELD_STATEMENT, FieldStatement
from services.reporting.lifecycle import named
from services.reporting.tables import (
    DIM_GROUPS,
    DIM_TYPES,
    ORDER_GROUPS,
    ORDER_SUMS,
    PERIOD_COUNTERS,
    PRODUCT_COUNTERS,
    REGION_COUNTERS,
    SCHEMA,
    STAFF_COUNTERS,
    WHOLE_ORDERS,
)
from shared.orders_contract import OrderPlaced

# SQL: an order's OrderPlaced among the log's events
PLACED = f"service = '{OrderPlaced.SERVICE}' AND event_type = {named(OrderPlaced)}"

# Consumers hold it shared for each batch; a rebuild's swap holds it exclusively (see rebuild.py).
LOG_LOCK = zlib.crc32(b"reporting:event_log")


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


@dataclass(frozen=True)
class JsonRows(BulkInsert):
    """Like ``BulkInsert``, its rows as ONE jsonb argument (an array of objects): the batch function may
    take no more than 100 arguments (``BATCH_TYPES``, checked by a unit test)."""

    def sql(self, schema: str, first: int = 1) -> str:
        record = ", ".join(f"{name} {kind}" for name, kind in self.columns.items())
        return (
            f"INSERT INTO {schema}.{self.table} AS {self.alias} ({', '.join(self.columns)}) "
            f"SELECT * FROM jsonb_to_recordset(${first}::jsonb) x({record}) {self.on_conflict}"
        )

    def parameter_types(self) -> list[str]:
        return ["jsonb"]

    def arrays(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        # Money as its string: exact, and what the pool's jsonb codec (orjson) can encode.
        return [
            [
                {name: None if v is None else str(v) for name, v in zip(self.columns, row, strict=True)}
                for row in rows
            ]
        ]


def _counters(
    table: str, keys: tuple[str, ...], counters: tuple[str, ...], kind: type[BulkInsert] = BulkInsert
) -> BulkInsert:
    updates = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in counters)
    return kind(
        table,
        "t",
        {**dict.fromkeys(keys, "text"), **dict.fromkeys(counters, "numeric")},
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
    )


def _versioned(
    table: str, alias: str, key: str, groups: dict[str, dict[str, str]], sums: tuple[str, ...] = ()
) -> BulkInsert:
    """Rows whose groups of fields each carry the version of the event that set them: the newer wins, so
    events applied in any order give the same row; ``sums`` are added."""
    updates, newer_groups = [], []
    for group, cols in groups.items():
        newer = f"EXCLUDED.{group}_version > {alias}.{group}_version"
        newer_groups.append(newer)
        updates += [f"{col} = CASE WHEN {newer} THEN EXCLUDED.{col} ELSE {alias}.{col} END" for col in cols]
        updates.append(f"{group}_version = GREATEST({alias}.{group}_version, EXCLUDED.{group}_version)")
    updates += [f"{col} = {alias}.{col} + EXCLUDED.{col}" for col in sums]
    # Without sums, only a row that some group makes newer is written: an order's hint (version 0) for a
    # known customer would write an identical row version.
    where = f" WHERE {' OR '.join(newer_groups)}" if not sums else ""
    return BulkInsert(
        table,
        alias,
        {
            key: "text",
            **{col: kind for cols in groups.values() for col, kind in cols.items()},
            **{f"{g}_version": "bigint" for g in groups},
            **dict.fromkeys(sums, "numeric"),
        },
        f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}{where}",
    )


@dataclass(frozen=True)
class LeavingSales(BulkInsert):
    """R2 rev 2: what leaves the sales figures of a period, as rows (order id, period, credited). A
    cancellation (credited None) takes the whole order off the period it is cancelled in: its amount,
    quantities and staff amount, and counts the amount as cancelled. A credit note (O15/O16; credited: its
    amount) takes its amount off the staff figure of the order's salesperson in the period it is issued in
    (the customer's and products' figures the Projector aggregates from the credit note itself). What the
    order was placed with is read from its ``OrderPlaced`` in the log, which holds it before this statement
    runs in every batch (both come after the placement in the orders stream, and a batch logs first). Both
    also leave the region the order was placed in (C10: at the time of the sale), a credit note with the
    quantities of its ``lines``. One statement, four tables; its rows go as ONE jsonb argument, as the
    batch function may take no more than 100."""

    def sql(self, schema: str, first: int = 1) -> str:
        s = schema
        return f"""
        WITH c AS (
            SELECT l.data->>'customer_id' AS customer_id, l.data->>'salesperson_id' AS salesperson_id,
                   l.data->>'region' AS region, (l.data->>'total_amount')::numeric AS total_amount,
                   l.data->'lines' AS lines, x.period, x.credited, x.returned
            FROM jsonb_to_recordset(${first}::jsonb) x(order_id text, period text, credited numeric,
                                                        returned jsonb)
            -- Each order's events by its id, then its OrderPlaced: joined (or looked up with the log's key
            -- on service), the planner scanned every orders event of the log for every batch, one with
            -- nothing leaving too. OFFSET 0 keeps the lookup to the id whatever the statistics say.
            CROSS JOIN LATERAL (SELECT data FROM (SELECT service, event_type, data FROM {SCHEMA}.event_log
                                                  WHERE aggregate_id = x.order_id OFFSET 0) e
                                WHERE {PLACED}) l
        ), cancelled AS (
            SELECT * FROM c WHERE c.credited IS NULL
        ), sold AS (
            SELECT c.customer_id, c.region, c.period, l->>'product_code' AS product_code,
                   sum((l->>'quantity')::numeric) AS quantity, sum((l->>'amount')::numeric) AS amount
            FROM cancelled c CROSS JOIN LATERAL jsonb_array_elements(c.lines) l
            WHERE l->>'product_code' IS NOT NULL GROUP BY 1, 2, 3, 4
        ), leaving_region AS (
            SELECT c.region, c.period, '{WHOLE_ORDERS}' AS product_code,
                   coalesce(c.credited, c.total_amount) AS amount, 0 AS quantity
            FROM c
            UNION ALL SELECT region, period, product_code, amount, quantity FROM sold
            UNION ALL
            SELECT c.region, c.period, l->>'product_code', (l->>'amount')::numeric, (l->>'quantity')::numeric
            FROM c CROSS JOIN LATERAL jsonb_array_elements(coalesce(c.returned, '[]'::jsonb)) l
            WHERE c.credited IS NOT NULL AND l->>'product_code' IS NOT NULL
        ), by_region AS (
            INSERT INTO {s}.region_period AS t (region, period, product_code, amount, quantity)
            SELECT region, period, product_code, -sum(amount), -sum(quantity) FROM leaving_region
            WHERE coalesce(region, '') <> '' GROUP BY 1, 2, 3 ORDER BY 2, 1, 3
            ON CONFLICT (period, region, product_code) DO UPDATE SET
                amount = t.amount + EXCLUDED.amount, quantity = t.quantity + EXCLUDED.quantity
            RETURNING 1
        ), by_customer AS (
            INSERT INTO {s}.customer_period AS t
                (customer_id, period, ordered_amount, cancelled_amount, quantity)
            SELECT c.customer_id, c.period, -sum(c.total_amount), sum(c.total_amount),
                   -coalesce((SELECT sum(quantity) FROM sold WHERE sold.customer_id = c.customer_id
                              AND sold.period = c.period), 0)
            FROM cancelled c WHERE coalesce(c.customer_id, '') <> ''
            GROUP BY c.customer_id, c.period ORDER BY c.period, c.customer_id
            ON CONFLICT (period, customer_id) DO UPDATE SET
                ordered_amount = t.ordered_amount + EXCLUDED.ordered_amount,
                cancelled_amount = t.cancelled_amount + EXCLUDED.cancelled_amount,
                quantity = t.quantity + EXCLUDED.quantity
            RETURNING 1
        ), by_product AS (
            INSERT INTO {s}.customer_product_period AS t (customer_id, period, product_code, quantity, amount)
            SELECT customer_id, period, product_code, -sum(quantity), -sum(amount) FROM sold
            WHERE coalesce(customer_id, '') <> '' GROUP BY 1, 2, 3 ORDER BY period, customer_id, product_code
            ON CONFLICT (period, customer_id, product_code) DO UPDATE SET
                quantity = t.quantity + EXCLUDED.quantity, amount = t.amount + EXCLUDED.amount
            RETURNING 1
        )
        INSERT INTO {s}.staff_period AS t (staff_id, period, amount)
        SELECT salesperson_id, period, -sum(coalesce(credited, total_amount)) FROM c
        WHERE coalesce(salesperson_id, '') <> '' GROUP BY 1, 2 ORDER BY 2, 1
        ON CONFLICT (period, staff_id) DO UPDATE SET amount = t.amount + EXCLUDED.amount"""

    def parameter_types(self) -> list[str]:
        return ["jsonb"]

    def arrays(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        # Money as its string: exact, and what the pool's jsonb codec (orjson) can encode.
        return [
            [
                {
                    "order_id": order_id,
                    "period": period,
                    "credited": None if credited is None else str(credited),
                    "returned": returned,
                }
                for order_id, period, credited, returned in rows
            ]
        ]


@dataclass(frozen=True)
class UnpaidReceivables(BulkInsert):
    """R12: keeps ``unpaid_receivables`` for the orders a batch touched (rows: their ids), from their row in
    ``orders`` and their receivables, so it equals what their final rows give whatever the batches were
    (R9). What is paid on an order (payments, a converted hold's deposit, customer credit, credit notes)
    settles its oldest receivables first, so what is left unpaid is the newest part of its shipments, as the
    orders service counts it for O5; a cancelled order leaves nothing unpaid. A receivable with nothing
    unpaid has no row. Runs after ``orders`` and ``receivables``; its rows go as ONE argument."""

    def sql(self, schema: str, first: int = 1) -> str:
        ids = f"= ANY(${first}::text[])"
        return f"""
        WITH {self._owed(schema, f"order_id {ids}")}, settled AS (
            DELETE FROM {schema}.unpaid_receivables u WHERE u.order_id {ids}
              AND NOT EXISTS (SELECT FROM owed o WHERE o.order_id = u.order_id
                              AND o.shipment_id = u.shipment_id AND o.unpaid > 0)
            RETURNING 1
        )
        INSERT INTO {schema}.unpaid_receivables AS u (order_id, shipment_id, customer_id, due_on, unpaid)
        SELECT order_id, shipment_id, customer_id, due_on, unpaid FROM owed WHERE unpaid > 0
        ORDER BY order_id, shipment_id
        ON CONFLICT (order_id, shipment_id) DO UPDATE SET unpaid = EXCLUDED.unpaid
            WHERE u.unpaid <> EXCLUDED.unpaid"""

    def orders_from_sql(self, schema: str) -> str:
        """For the orders whose id is from $1 on and before $2 (NULL: to the last) at once, into a table
        that holds none of them: what a rebuild runs once its orders and receivables are in (a pass over
        both tables, several times quicker than naming every id), a range of ids on each of its
        connections. A plain insert: with nothing to delete or update there is no conflict to check and
        no lock order to sort for (a third of the upsert's time)."""
        return f"""
        WITH {self._owed(schema, "order_id >= $1::text AND ($2::text IS NULL OR order_id < $2::text)")}
        INSERT INTO {schema}.unpaid_receivables (order_id, shipment_id, customer_id, due_on, unpaid)
        SELECT order_id, shipment_id, customer_id, due_on, unpaid FROM owed WHERE unpaid > 0"""

    @staticmethod
    def _owed(s: str, touched: str) -> str:
        """``owed``: what is unpaid of each receivable of the orders that pass the test ``touched``."""
        return f"""touched AS (
            SELECT order_id, CASE WHEN status IS DISTINCT FROM 'cancelled'
                                  THEN greatest(shipped - paid, 0) ELSE 0 END AS unpaid
            FROM {s}.orders WHERE {touched}
        ), parts AS (
            SELECT r.order_id, r.shipment_id, r.customer_id, r.due_on, r.amount, t.unpaid,
                   sum(r.amount) OVER (PARTITION BY r.order_id ORDER BY r.due_on DESC NULLS FIRST,
                                       r.shipment_id DESC) AS newer
            FROM {s}.receivables r JOIN touched t USING (order_id)
        ), owed AS (
            SELECT order_id, shipment_id, customer_id, due_on,
                   least(amount, greatest(unpaid - (newer - amount), 0)) AS unpaid
            FROM parts
        )"""

    def parameter_types(self) -> list[str]:
        return ["text[]"]

    def arrays(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [[order_id for (order_id,) in rows]]


def _first_wins(
    table: str, alias: str, key: str, columns: dict[str, str], kind: type[BulkInsert] = BulkInsert
) -> BulkInsert:
    return kind(table, alias, {key: "text", **columns}, f"ON CONFLICT ({key}) DO NOTHING")


UNPAID_RECEIVABLES = UnpaidReceivables(
    "unpaid_receivables",
    "u",
    {
        "order_id": "text",
        "shipment_id": "text",
        "customer_id": "text",
        "due_on": "date",
        "unpaid": "numeric(18,2)",
    },
)

# How each projection takes what a Projector aggregated, in the order every writer locks them.
UPSERTS: dict[str, BulkInsert] = {
    "customer_period": _counters("customer_period", ("customer_id", "period"), PERIOD_COUNTERS),
    "customer_product_period": _counters(
        "customer_product_period", ("customer_id", "period", "product_code"), PRODUCT_COUNTERS
    ),
    "staff_period": _counters("staff_period", ("staff_id", "period"), STAFF_COUNTERS),
    "region_period": _counters(
        "region_period", ("region", "period", "product_code"), REGION_COUNTERS, JsonRows
    ),
    "customers": _versioned(
        "customers",
        "c",
        "customer_id",
        {group: {col: DIM_TYPES[col] for col in cols} for group, cols in DIM_GROUPS.items()},
    ),
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
    "orders": _versioned("orders", "o", "order_id", ORDER_GROUPS, ORDER_SUMS),
    "receivables": BulkInsert(
        "receivables",
        "r",
        {
            "order_id": "text",
            "shipment_id": "text",
            "customer_id": "text",
            "amount": "numeric(18,2)",
            "due_on": "date",
        },
        "ON CONFLICT (order_id, shipment_id) DO NOTHING",
    ),
    "unpaid_receivables": UNPAID_RECEIVABLES,
    "signoffs": _first_wins(
        "signoffs", "s", "period", {"signed_at": "timestamptz", "signed_by": "text", "report": "jsonb"}
    ),
    "history_files": _first_wins(
        "history_files",
        "h",
        "sha256",
        {"file_name": "text", "lines": "int", "imported_at": "timestamptz", "imported_by": "text"},
        JsonRows,  # rare (one row per imported file): one argument instead of five
    ),
}
# Statements that are no projection of their own, each after the projections in ``UPSERTS``: what leaves the
# sales (it reads the log, which a batch fills first), then the field tables' one statement (R11, R13). Of all
# statements only ``UnpaidReceivables`` reads projection tables (``orders``, ``receivables``): a rebuild runs
# it once they are merged (``parts.merge_parts``).
LEAVING = LeavingSales("orders", "o", {"leaving": "jsonb"})
STATEMENTS: dict[str, BulkInsert | FieldStatement] = {**UPSERTS, "leaving": LEAVING, "field": FIELD_STATEMENT}


async def add_statements(conn: asyncpg.Connection, schema: str, upserts: list[tuple[str, list[Any]]]) -> None:
    """Run ``Projector.upserts`` on ``schema``'s tables; those of one run of events after those of the runs
    before it give what one projector of them all would."""
    for name, arguments in upserts:
        await conn.execute(STATEMENTS[name].sql(schema), *arguments)


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
BATCH_PARTS = (LOG_INSERT, *STATEMENTS.values(), POSITIONS)
BATCH_TYPES = [kind for part in BATCH_PARTS for kind in part.parameter_types()]
CALL_BATCH = f"SELECT {BATCH_FUNCTION}({', '.join(f'${i}::{t}' for i, t in enumerate(BATCH_TYPES, 1))})"


def batch_function_ddl() -> str:
    """plpgsql runs the statements in order: the shared log lock is taken before any table is touched (a
    rebuild's swap holds it exclusively), and a failing one undoes the call."""
    statements, first = [], 1
    for part in BATCH_PARTS:
        statement = part.sql(SCHEMA, first) + ";"
        if part is LEAVING:  # nothing leaves in nearly every batch: the statement is then not even planned
            statement = f"IF jsonb_array_length(${first}) > 0 THEN {statement} END IF;"
        statements.append(statement)
        first += len(part.parameter_types())
    return (
        f"CREATE OR REPLACE FUNCTION {BATCH_FUNCTION}({', '.join(BATCH_TYPES)}) RETURNS void "
        f"LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared({LOG_LOCK}); "
        + " ".join(statements)
        + " END $$"
    )
