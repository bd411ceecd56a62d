"""R9: the rows a rebuild keeps per order and per shipment (``PARTS``: most of what it writes, one for
every two or three events). They are not upserted chunk by chunk: each slice copies its own into a parts
table (``copy_parts``), merged into the build table once at the end (``merge_parts``), so that no process
holds more than a slice of them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import asyncpg

from services.reporting.bulk import UNPAID_RECEIVABLES, UPSERTS
from services.reporting.projector import Projector
from services.reporting.tables import BUILD_SCHEMA, ORDER_GROUPS, ORDER_SUMS

if TYPE_CHECKING:
    from services.reporting.rebuild import Readers

# Projections kept per order or shipment, as ``Projector.rows`` gives them: copied per slice (its ``part``,
# the log sequence it starts after, orders the slices as the log does), merged at the end as their upserts
# would have added the slices in log order (``merge_parts``).
PARTS = ("orders", "receivables")


# A rebuild's commits before the swap do not wait for the disk (a thousand of them: a sixth of its time). A
# crash loses at most the last of them, in the order they were made (the WAL is flushed in order; a slice's
# parts commit before its chunk), so what is left is an earlier chunk with its parts, where a resume starts;
# the build tables are nobody's figures until the swap, whose commit waits as every other does.
UNSYNCED = {"synchronous_commit": "off"}
UNSYNCED_HERE = "SET LOCAL synchronous_commit = off"  # on the caller's connection, for one transaction


async def copy_parts(conn: asyncpg.Connection, projector: Projector, part: int) -> None:
    """Copy what ``projector`` kept per order and shipment into the parts tables, and forget it (its
    ``upserts`` then carry the rest)."""
    found = {name: projector.rows(name) for name in PARTS}
    projector.orders.clear()  # the rows hold what is still needed of it
    projector.receivables.clear()
    for name, rows in found.items():
        if rows:
            await conn.copy_records_to_table(
                f"{name}_parts",
                schema_name=BUILD_SCHEMA,
                columns=["part", *UPSERTS[name].columns],
                records=_records(part, rows, MONEY_AT[name]),
            )


def _as_copied(kind: str) -> str:
    """A parts column's type: money as its text, which asyncpg copies ~3 times quicker than it encodes a
    Decimal (a third of a reader's copying); the merge makes it the build table's type, as the live
    upserts do with the text they send (``bulk.BulkInsert``)."""
    return "text" if kind.startswith("numeric") else kind


# Where the money is in a parts record (after its part).
MONEY_AT = {
    name: [i for i, kind in enumerate(UPSERTS[name].columns.values(), 1) if _as_copied(kind) != kind]
    for name in PARTS
}


def _records(part: int, rows: list[tuple[Any, ...]], money_at: list[int]) -> Iterator[list[Any]]:
    for row in rows:
        record = [part, *row]
        for i in money_at:
            if record[i] is not None:
                record[i] = str(record[i])
        yield record


def _typed(name: str, column: str, value: str | None = None) -> str:
    """``value`` (the column itself by default) of a parts table's ``column`` as its build table's type."""
    kind = UPSERTS[name].columns[column]
    value = value or column
    return f"({value})::{kind}" if _as_copied(kind) != kind else value


def _newest(column: str, group: str) -> str:
    """The value of the part whose ``group`` version is highest, the first such in log order: what upserts
    of the parts in log order keep (a newer version replaces, a tie keeps the row's)."""
    return f"(array_agg({column} ORDER BY {group}_version DESC, part))[1]"


_ORDER_COLUMNS = [
    "order_id",
    *(c for cols in ORDER_GROUPS.values() for c in cols),
    *(f"{g}_version" for g in ORDER_GROUPS),
    *ORDER_SUMS,
]
MERGE_PARTS = {
    # Nearly every order's events fall in one slice: its part is its row as it is; only the orders found in
    # several parts are merged (an ordered aggregate per column and order cost twice as much as the insert
    # itself). Those are found by a hash of the ids (``MERGE_WORK_MEM``), not by sorting every part.
    "orders": (
        f"INSERT INTO {BUILD_SCHEMA}.orders ({', '.join(_ORDER_COLUMNS)}) "
        f"WITH split AS (SELECT order_id FROM {BUILD_SCHEMA}.orders_parts "
        "GROUP BY order_id HAVING count(*) > 1) "
        f"SELECT {', '.join(_typed('orders', c) for c in _ORDER_COLUMNS)} FROM {BUILD_SCHEMA}.orders_parts p "
        "WHERE NOT EXISTS (SELECT FROM split s WHERE s.order_id = p.order_id) "
        "UNION ALL SELECT order_id, "
        + ", ".join(_typed("orders", c, _newest(c, g)) for g, cols in ORDER_GROUPS.items() for c in cols)
        + ", "
        + ", ".join(
            [
                *(f"max({g}_version)" for g in ORDER_GROUPS),
                *(f"sum({_typed('orders', c)})" for c in ORDER_SUMS),
            ]
        )
        + f" FROM {BUILD_SCHEMA}.orders_parts JOIN split USING (order_id) GROUP BY order_id"
    ),
    # A shipment's receivable is written once (its upsert does nothing to a row it finds): the first part's.
    "receivables": (
        f"INSERT INTO {BUILD_SCHEMA}.receivables ({', '.join(UPSERTS['receivables'].columns)}) "
        "SELECT DISTINCT ON (order_id, shipment_id) "
        f"{', '.join(_typed('receivables', c) for c in UPSERTS['receivables'].columns)} "
        f"FROM {BUILD_SCHEMA}.receivables_parts ORDER BY order_id, shipment_id, part"
    ),
}


# A merge's memory for hashing and sorting: the orders' ids of a year (~1 M) hashed at once, where the
# server's default (4 MB) spilled them to disk in batches.
MERGE_WORK_MEM = "256MB"

# Kept from the rows of ``PARTS`` (``bulk.UnpaidReceivables``): while the parts wait, the chunks name no
# order to it; once they are merged it runs for every order, a range of order ids on each connection.
FROM_PARTS = "unpaid_receivables"
Job = Callable[[asyncpg.Connection], Awaitable[None]]


async def merge_parts(conn: asyncpg.Connection, names: list[str], readers: Readers | None) -> None:
    """The parts into their build tables, which nothing wrote before, each in a transaction of its own that
    empties its parts (a resume after it merges nothing twice), then what is unpaid of every receivable
    (inserted into the emptied table: a resume makes it again). The server's work, one core per statement:
    with ``readers``, as many statements at once as they are processes."""
    async with _connections(conn, readers) as connections:
        await _at_once(connections, [functools.partial(_merge_part, name) for name in PARTS if name in names])
        if FROM_PARTS in names:
            await conn.execute(f"TRUNCATE {BUILD_SCHEMA}.{FROM_PARTS}")  # what an interrupted merge inserted
            ranges = await _order_ranges(conn, len(connections))
            await _at_once(connections, [functools.partial(_keep_unpaid, *bounds) for bounds in ranges])


async def _merge_part(name: str, conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
        await conn.execute(UNSYNCED_HERE)
        async with _indexed_after(conn, f"{BUILD_SCHEMA}.{name}"):
            await conn.execute(MERGE_PARTS[name])
        await conn.execute(f"TRUNCATE {BUILD_SCHEMA}.{name}_parts")


async def _keep_unpaid(first: str, end: str | None, conn: asyncpg.Connection) -> None:
    await conn.execute(UNPAID_RECEIVABLES.orders_from_sql(BUILD_SCHEMA), first, end)


async def _order_ranges(conn: asyncpg.Connection, count: int) -> list[tuple[str, str | None]]:
    """``count`` ranges of the built orders' ids (from the first on, before the next's first), about as
    many orders in each."""
    orders = await conn.fetchval(f"SELECT count(*) FROM {BUILD_SCHEMA}.orders")
    starts = [""]
    for k in range(1, count):
        start = await conn.fetchval(
            f"SELECT order_id FROM {BUILD_SCHEMA}.orders ORDER BY order_id OFFSET $1 LIMIT 1",
            orders * k // count,
        )
        if start is not None and start > starts[-1]:
            starts.append(start)
    return list(zip(starts, [*starts[1:], None], strict=True))


@contextlib.asynccontextmanager
async def _connections(
    conn: asyncpg.Connection, readers: Readers | None
) -> AsyncIterator[list[asyncpg.Connection]]:
    """``conn`` and, with ``readers``, one more connection for each of their processes but one."""
    more = (
        [await asyncpg.connect(readers.dsn, server_settings=UNSYNCED) for _ in range(readers.count - 1)]
        if readers
        else []
    )
    try:
        yield [conn, *more]
    finally:
        for other in more:
            await other.close()


async def _at_once(connections: list[asyncpg.Connection], jobs: list[Job]) -> None:
    """``jobs``, each on one of ``connections`` as it becomes free; the first that fails stops the others."""
    waiting = deque(jobs)

    async def work(conn: asyncpg.Connection) -> None:
        while waiting:
            await waiting.popleft()(conn)

    async with asyncio.TaskGroup() as group:
        for conn in connections:
            group.create_task(work(conn))


@contextlib.asynccontextmanager
async def _indexed_after(conn: asyncpg.Connection, table: str) -> AsyncIterator[None]:
    """``table``'s key and indexes dropped while it is filled and made again after, as they were: building
    an index from the filled table sorts it once, where keeping it row by row cost a third of the merge."""
    keys = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype IN ('p', 'u')",
        table,
    )
    indexes = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition "
        "FROM pg_index WHERE indrelid = $1::regclass "
        "AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)",
        table,
    )
    for key in keys:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key['conname']}")
    for index in indexes:
        await conn.execute(f"DROP INDEX {index['name']}")
    yield
    for key in keys:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key['conname']} {key['definition']}")
    for index in indexes:
        await conn.execute(index["definition"])


async def drop_parts(conn: asyncpg.Connection, names: list[str]) -> None:
    for name in PARTS:
        if name in names:
            await conn.execute(f"DROP TABLE IF EXISTS {BUILD_SCHEMA}.{name}_parts")


async def create_parts_table(conn: asyncpg.Connection, name: str) -> None:
    """A fresh parts table of ``name``: no key, no index, a slice's rows are copied in as they are."""
    await conn.execute(f"DROP TABLE IF EXISTS {BUILD_SCHEMA}.{name}_parts")
    columns = ", ".join(f"{c} {_as_copied(kind)}" for c, kind in UPSERTS[name].columns.items())
    await conn.execute(f"CREATE TABLE {BUILD_SCHEMA}.{name}_parts (part bigint NOT NULL, {columns})")


async def forget_parts_from(conn: asyncpg.Connection, name: str, start: int) -> None:
    """A resume's first step: the parts of ``name`` the chunks from log sequence ``start`` on had copied
    without committing their chunk."""
    await conn.execute(f"DELETE FROM {BUILD_SCHEMA}.{name}_parts WHERE part >= $1", start)
